"""The one exception type of :mod:`uedpo.models` (a ``ValueError``, so CLIs map it to exit code 2)."""

from __future__ import annotations

from uedpo.errors import InputError


class ModelLoadError(InputError):
    """A checkpoint or adapter cannot be loaded; the message names the file and the fix."""
