"""Samples files (pairs and uedpo-eval responses) and safe image opening."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from inspector.errors import InputError
from inspector.images import MAX_IMAGE_PIXELS, open_image
from inspector.samples import read_samples

PAIR = {"id": "p1", "image": "img.png", "prompt": "Describe.", "chosen": "a cat .", "rejected": "a dog ."}
EVAL = {
    "bench": "amber",
    "id": 7,
    "image": "img.png",
    "question": "Describe.",
    "response": "two dogs .",
    "hallucinated": ["dog"],
    "chair": 1.0,
}


def write_jsonl(path: Path, rows) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8"
    )
    return path


@pytest.fixture
def folder(tmp_path):
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "img.png")
    return tmp_path


def test_pairs_and_eval_rows_load(folder):
    sf = read_samples(write_jsonl(folder / "s.jsonl", [PAIR, EVAL]))
    pair, item = sf.samples
    assert (pair.kind, pair.question, pair.preferred, pair.dispreferred) == (
        "pair",
        "Describe.",
        "a cat .",
        "a dog .",
    )
    assert pair.image == folder / "img.png" and pair.hallucinated == ()
    assert (item.kind, item.bench, item.id, item.preferred, item.dispreferred) == (
        "eval",
        "amber",
        "7",
        "two dogs .",
        None,
    )
    assert item.hallucinated == ("dog",) and sf.errors == ()
    assert sf.by_label(item.label) is item


def test_trainer_format_variants(folder):
    # The trainer's trl rows: id optional, images=[path] for image, a literal <image> placeholder in the prompt.
    row = {"images": ["img.png"], "prompt": "<image>\nDescribe.", "chosen": "a cat .", "rejected": "a dog ."}
    (sample,) = read_samples(write_jsonl(folder / "s.jsonl", [row])).samples
    assert (sample.id, sample.question, sample.image) == ("line 1", "Describe.", folder / "img.png")


def test_image_dir_takes_precedence_over_the_samples_folder(folder, tmp_path_factory):
    other = tmp_path_factory.mktemp("images")
    Image.new("RGB", (4, 4)).save(other / "img.png")
    sf = read_samples(write_jsonl(folder / "s.jsonl", [PAIR]), image_dir=other)
    assert sf.samples[0].image == other / "img.png"


def test_broken_rows_are_reported_one_line_each_and_the_rest_load(folder):
    rows = [
        PAIR,
        "{not json",
        {"id": "p2", "image": "img.png", "prompt": "x", "chosen": "a"},  # no rejected
        {**PAIR, "id": "p3", "chosen": 5},
        {**PAIR, "id": "p4", "image": "missing.png"},
        {**PAIR},  # repeated id
        {**EVAL, "id": 8, "hallucinated": "dog"},
        [1, 2],
        {**EVAL, "id": 9},
    ]
    sf = read_samples(write_jsonl(folder / "s.jsonl", rows))
    assert [s.id for s in sf.samples] == ["p1", "9"]
    assert len(sf.errors) == 7
    expected = [
        ("line 2", "not valid JSON"),
        ("line 3 (id 'p2')", "missing field(s) rejected"),
        ("line 4 (id 'p3')", "'chosen' must be a string"),
        ("line 5 (id 'p4')", "image 'missing.png' not found"),
        ("line 6 (id 'p1')", "repeats an earlier row"),
        ("line 7 (id 8)", "'hallucinated' must be a list"),
        ("line 8", "expected a JSON object"),
    ]
    for message, (where, what) in zip(sf.errors, expected, strict=True):
        assert message.startswith(f"s.jsonl {where}: ") and what in message
        assert "\n" not in message


def test_a_file_without_any_good_row_is_an_error(folder):
    with pytest.raises(InputError, match="no usable row; first problem: s.jsonl line 1"):
        read_samples(write_jsonl(folder / "s.jsonl", ["nope"]))
    with pytest.raises(InputError, match="cannot be read"):
        read_samples(folder / "absent.jsonl")


def test_open_image_accepts_a_png(folder):
    img = open_image(folder / "img.png")
    assert img.mode == "RGB" and img.size == (8, 8)


def test_open_image_refuses_non_images_and_huge_files(folder):
    (folder / "notes.png").write_text("this is text, not a PNG")
    with pytest.raises(InputError, match="not a readable image"):
        open_image(folder / "notes.png")
    with pytest.raises(InputError, match="over the 0 MB cap"):
        open_image(folder / "img.png", max_bytes=10)
    with pytest.raises(InputError, match="file not found"):
        open_image(folder / "nothing.png")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but carries almost no pixel data (never decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def test_open_image_refuses_more_than_50_megapixels_before_decoding(folder):
    (folder / "huge.png").write_bytes(_png_header_only(10_000, 6_000))  # 60 MP in a few bytes
    with pytest.raises(InputError, match="10000x6000 = 60.0 MP is over the 50 MP cap"):
        open_image(folder / "huge.png")
    assert MAX_IMAGE_PIXELS == 50_000_000


def test_open_image_reports_a_truncated_file(folder):
    (folder / "cut.png").write_bytes(_png_header_only(64, 64))  # header fine, pixel data missing
    with pytest.raises(InputError, match="cannot be decoded|not a readable image"):
        open_image(folder / "cut.png")
