"""``data: shapesworld`` / ``shapesworld:seed=N`` for ``uedpo-train``: the endless SFT stream as training rows.

Registered in the ``uedpo.train_streams`` entry-point group (pyproject.toml), so the trainer finds it by name
without importing ShapesWorld (:mod:`uedpo.train.streams`). Examples come from
:func:`benchmarks_data.shapesworld.sft.iter_sft_examples` (fresh seeded scenes, JPEG round-trip, 25 % yes/no
questions), so no image is written to disk; yes/no targets are trained as "Yes" / "No", the exact answers the
AMBER scorer compares against.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from benchmarks_data.shapesworld.sft import iter_sft_examples
from uedpo.train.data import StreamRow, TrainDataError

NAME = "shapesworld"
# The AMBER scorer compares yes/no answers to exactly these strings (SCORERS.md §3).
STREAM_ANSWERS = {"yes": "Yes", "no": "No"}


def parse_stream_seed(options: str) -> int:
    """``""`` -> 0, ``seed=7`` -> 7 (the text after ``shapesworld:``); else :class:`TrainDataError`."""
    if not options:
        return 0
    key, sep, value = options.partition("=")
    if key.strip() != "seed" or not sep or not value.strip().lstrip("-").isdigit():
        raise TrainDataError(f"data {NAME}:{options!r}: expected '{NAME}' or '{NAME}:seed=N' (N an integer)")
    return int(value)


class ShapesWorldStream(torch.utils.data.IterableDataset):
    """Endless ShapesWorld SFT rows (caption or yes/no), reproducible from ``seed``."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __iter__(self) -> Iterator[StreamRow]:
        for number, example in enumerate(iter_sft_examples(self.seed)):
            target = STREAM_ANSWERS.get(example.target, example.target)
            yield StreamRow(id=f"sw{self.seed}-{number}", prompt=example.prompt, chosen=target, rejected=None,
                            image_path=None, source=f"{NAME}:seed={self.seed} example {number}",
                            pixels=example.image)


def stream(options: str) -> ShapesWorldStream:
    """The entry point: ``options`` is what follows ``shapesworld:`` ("" for none)."""
    return ShapesWorldStream(parse_stream_seed(options))
