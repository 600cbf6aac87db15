"""Samples files (pairs and uedpo-eval responses) and safe image opening."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from inspector_fakes import BLIND_RESPONSE, blindspot_fixture, blindspot_row
from PIL import Image

from inspector.errors import InputError
from inspector.images import MAX_IMAGE_PIXELS, open_image
from inspector.samples import read_samples, shown

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
    assert sf.by_label(item.label) is item and sf.by_label("7") is item
    # Labels: id, status and the flagged words (no bench, no question).
    assert (pair.label, item.label) == ("p1 · pair", "7 · hallucinated: dog")
    assert item.response == "two dogs ." and pair.response is None


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


# -- blind-spot files (uedpo-eval --blindspots) ------------------------------------------------------------
def test_blindspot_rows_group_into_items_with_their_objects(folder):
    sf = read_samples(write_jsonl(folder / "blindspots.jsonl", blindspot_fixture()))
    assert sf.errors == () and [s.id for s in sf.samples] == ["1", "2", "3"]
    one = sf.samples[0]
    assert (
        one.kind == "blindspots"
        and one.image == folder / "img.png"
        and one.question == "Describe this image."
    )
    assert one.preferred == one.response == BLIND_RESPONSE and one.dispreferred is None
    assert [(o.word, o.status, o.verdict, o.type) for o in one.objects] == [
        ("dog", "hallucinated", "prior-driven", "type-ii"),
        ("car", "grounded", "seen", "ungated"),
        ("cat", "missed", "blind-spot", "type-i"),
    ]
    cat = one.objects[2]
    assert (cat.tokens, cat.u, cat.p_clear, cat.p_blurred) == ((" cat",), 0.8, 0.02, 0.019)
    assert cat.probe.endswith("There is also a cat .") and cat.where == "blindspots.jsonl line 3"
    assert cat.run == {"ckpt": "tiny", "seed": 0, "k": 500, "tau": 0.4}  # nulls left out; k of the view
    assert cat.details == {"object_class": "cat"} and cat.token_index is None
    assert one.hallucinated == ("dog",) and one.missed == ("cat",) and one.blind_spots == ("cat",)
    assert one.label == "1 · hallucinated: dog · missed: cat · blind spots: cat"
    assert sf.samples[1].label == "2 · clean" and sf.samples[2].label == "3 · missed: bench"
    assert (
        one.object(cat.key) is cat
        and one.first_object("missed") is cat
        and one.first_object() is one.objects[0]
    )


def test_blindspot_rows_tolerate_extra_fields_and_spelling_variants(folder):
    row = blindspot_row(
        "a", "Missed", "cat", "Blind spot", "Type_I", probe="x", p=(None, 0.1), extra_field={"nested": [1]}
    )
    (sample,) = read_samples(write_jsonl(folder / "b.jsonl", [row])).samples
    (obj,) = sample.objects
    assert (obj.status, obj.verdict, obj.type) == ("missed", "blind-spot", "type-i")
    assert obj.p_clear != obj.p_clear and obj.p_blurred == 0.1  # JSON null reads as NaN


def test_broken_blindspot_rows_are_one_line_naming_file_line_and_fix(folder):
    good = blindspot_row(5, "grounded", "car", "seen", "ungated")
    no_u = {
        k: v
        for k, v in blindspot_row(6, "missed", "cat", "seen", "ungated").items()
        if k not in ("u", "probe")
    }
    rows = [
        good,
        no_u,
        {**good, "id": 7, "status": "absent"},
        {**good, "id": 8, "p_clear": 1.5},
        {**good, "id": 9, "tokens": "car"},
        {**good, "u": "high", "word": "bus"},
        {**good},  # the same object again
        {**good, "word": "bus", "image": "other.png"},
        {**good, "word": "van", "question": "Something else?"},
    ]
    sf = read_samples(write_jsonl(folder / "blindspots.jsonl", rows))
    assert [s.id for s in sf.samples] == ["5"] and len(sf.samples[0].objects) == 1
    expected = [
        ("line 2 (id 6)", "missing field(s) u, probe for a blind-spot row (needs id, status, word, tokens"),
        ("line 3 (id 7)", "'status' is 'absent'; expected one of hallucinated, missed, grounded"),
        ("line 4 (id 8)", "'p_clear' = 1.5 is no probability"),
        ("line 5 (id 9)", "'tokens' must be a list of token strings"),
        ("line 6 (id 5)", "'u' must be a number, got str"),
        ("line 7 (id 5)", "object car [grounded] repeats blindspots.jsonl line 1"),
        ("line 8 (id 5)", "image 'other.png' not found"),
        ("line 9 (id 5)", "field 'question' differs from blindspots.jsonl line 1's"),
    ]
    assert len(sf.errors) == len(expected)
    for message, (where, what) in zip(sf.errors, expected, strict=True):
        assert message.startswith(f"blindspots.jsonl {where}: ") and what in message, message
        assert "\n" not in message
    assert "uedpo-eval --blindspots" in sf.errors[0]


def test_blindspot_items_without_image_take_it_from_the_per_item_file(folder):
    bare = {
        k: v
        for k, v in blindspot_row(7, "missed", "cat", "blind-spot", "type-i").items()
        if k not in ("image", "question", "response", "bench")
    }
    items = write_jsonl(folder / "results.items.jsonl", [EVAL])
    blind = write_jsonl(folder / "blindspots.jsonl", [bare, {**bare, "id": 99}])
    sf = read_samples(items, blindspots=blind)
    (item,) = sf.samples
    assert (item.kind, item.id, item.question, item.preferred, item.bench) == (
        "blindspots",
        "7",
        "Describe.",
        "two dogs .",
        "amber",
    )
    assert item.hallucinated == ("dog",) and [o.word for o in item.objects] == ["cat"]
    (err,) = sf.errors
    assert err.startswith("blindspots.jsonl line 2 (id '99'): blind-spot item '99' has no image or question")
    assert "--samples OUT/<bench>/results.items.jsonl --blindspots FILE" in err


def test_filters_and_search(folder):
    rows = [*blindspot_fixture(), {**EVAL, "id": 10}, {**EVAL, "id": 11, "hallucinated": []}, PAIR]
    samples = read_samples(write_jsonl(folder / "s.jsonl", rows)).samples

    def ids(filter_name="all", query=""):
        return [s.id for s in shown(samples, filter_name, query)]

    assert ids() == ["1", "2", "3", "10", "11", "p1"]
    assert ids("flagged") == ["1", "10"]
    assert ids("missed") == ["1", "3"]
    assert ids("blind-spot") == ["1"] and ids("type-i") == ["1"]
    assert ids("all", "p1") == ["p1"] and ids("all", "1") == ["1", "10", "11", "p1"]  # id contains
    assert ids("all", "BENCH") == ["3"]  # an object word
    assert ids("flagged", "dog") == ["1", "10"]  # flagged words, and "dog" in the response as a word
    assert ids("all", "tree") == ["1", "2", "3"]  # item 2 names it as an object, 1 and 3 in the response
    assert ids("all", "tre") == ["2"]  # a word of the response counts whole, an object word in part
    assert ids("missed", "cat") == ["1"]
    with pytest.raises(InputError, match="filter: expected one of"):
        shown(samples, "nope")
