"""The model families, registered by config.json ``model_type``: adding one is one module + one line here.

A family module defines the adapter subclass (prompt format, image preparation, pixel layout, chat template)
and a tiny random config builder, and exports ``FAMILY`` (a :class:`~uedpo.models.families.base.Family`).
:data:`FAMILIES` maps ``model_type`` to it; :func:`uedpo.models.load_adapter` reads ``model_type`` from the
checkpoint and loads through it; ``python -m uedpo.models.tiny --family NAME`` builds its tiny checkpoint.
:func:`register` adds a family from outside the package.

Supported (transformers 5.24): ``llava`` (LLaVA-1.5), ``llava_next`` (LLaVA-NeXT / 1.6), ``llava_onevision``,
``qwen2_vl``, ``qwen2_5_vl``, ``qwen3_vl`` (dense).
"""

from __future__ import annotations

from uedpo.models.adapter import VLMAdapter
from uedpo.models.families import llava, llava_next, llava_onevision, qwen2_5_vl, qwen2_vl, qwen3_vl
from uedpo.models.families.base import Family

FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (llava.FAMILY, llava_next.FAMILY, llava_onevision.FAMILY, qwen2_vl.FAMILY, qwen2_5_vl.FAMILY,
              qwen3_vl.FAMILY)
}
# model_type -> adapter class (the registry's view that older code imports as uedpo.models.ADAPTERS).
ADAPTERS: dict[str, type[VLMAdapter]] = {name: f.adapter for name, f in FAMILIES.items()}


def register(family: Family, *, replace: bool = False) -> Family:
    """Add ``family`` to :data:`FAMILIES` (and :data:`ADAPTERS`); an existing ``model_type`` needs ``replace``."""
    if family.model_type in FAMILIES and not replace:
        raise ValueError(f"family {family.model_type!r} is already registered; pass replace=True to override it")
    FAMILIES[family.model_type] = family
    ADAPTERS[family.model_type] = family.adapter
    return family


def get_family(model_type: str) -> Family:
    """The registered family of ``model_type``; ``KeyError`` naming the supported ones otherwise."""
    if model_type not in FAMILIES:
        raise KeyError(f"model_type {model_type!r} is not supported; expected one of {sorted(FAMILIES)}")
    return FAMILIES[model_type]


__all__ = ["ADAPTERS", "FAMILIES", "Family", "get_family", "register"]
