"""Training data loaders: TRL rows, RLHF-V exports, RLAIF-V parquet; every bad row caught before compute."""

from __future__ import annotations

import base64
import io
import json
import sys

import numpy as np
import pytest
from PIL import Image
from test_trainer_support import pair_rows, write_json

from uedpo.train.cli import main
from uedpo.train.data import TrainDataError, load_rows


def _png_bytes(seed: int = 0, size=(20, 30)) -> bytes:
    rs = np.random.RandomState(seed)
    buf = io.BytesIO()
    Image.fromarray((rs.rand(size[1], size[0], 3) * 255).astype("uint8")).save(buf, format="PNG")
    return buf.getvalue()


def test_trl_json_and_jsonl_rows(tmp_path):
    rows = pair_rows(tmp_path, 3)
    rows[1]["image"] = str(tmp_path / rows[1]["image"])  # absolute paths work too
    rows[2]["images"] = [rows[2].pop("image")]  # TRL's images: [path]
    for row in rows:
        del row["id"]
    write_json(tmp_path / "rows.json", rows)
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    for name in ("rows.json", "rows.jsonl"):
        loaded = load_rows(tmp_path / name)
        assert [r.id for r in loaded] == ["0", "1", "2"]  # row numbers when the file has no ids
        assert [r.image_path for r in loaded] == [tmp_path / f"img_{i}.png" for i in range(3)]
        assert loaded[0].chosen == rows[0]["chosen"] and loaded[0].rejected == rows[0]["rejected"]
        # "<image>\n" in LLaVA-format questions is removed: the adapter inserts the placeholder itself.
        assert loaded[2].prompt == "what do you see ?"
        assert loaded[0].open_image().size == (48, 40)


def test_image_dir_resolves_relative_paths(tmp_path):
    rows = pair_rows(tmp_path / "images", 2)
    data = write_json(tmp_path / "meta" / "rows.json", rows)
    with pytest.raises(TrainDataError, match=r"rows.json row 0 \(id p0\): image 'img_0.png' not found under"):
        load_rows(data)
    assert load_rows(data, image_dir=tmp_path / "images")[1].image_path == tmp_path / "images" / "img_1.png"


def test_sft_rows_need_no_rejected(tmp_path):
    rows = pair_rows(tmp_path, 2)
    for row in rows:
        del row["rejected"]
    data = write_json(tmp_path / "sft.json", rows)
    assert [r.rejected for r in load_rows(data, need_rejected=False)] == [None, None]
    with pytest.raises(TrainDataError, match=r"sft.json row 0 \(id p0\): missing field 'rejected'"):
        load_rows(data)


def test_rlhf_v_export_with_text_json_and_image_dicts(tmp_path):
    png = _png_bytes(1)
    (tmp_path / "x.png").write_bytes(_png_bytes(2))
    rows = [
        {"idx": 7, "image": {"bytes": base64.b64encode(png).decode(), "path": None},
         "text": json.dumps({"question": "what is this ?", "chosen": "a dog .", "rejected": "a cat ."})},
        {"idx": 9, "image": {"bytes": None, "path": "x.png"},
         "text": {"question": "<image>\nhow many ?", "chosen": "two .", "rejected": "three ."}},
    ]
    loaded = load_rows(write_json(tmp_path / "rlhfv.json", rows))
    assert [r.id for r in loaded] == ["7", "9"]
    assert loaded[0].image_bytes == png and loaded[0].image_path is None
    assert loaded[0].prompt == "what is this ?" and loaded[0].rejected == "a cat ."
    assert loaded[1].image_path == tmp_path / "x.png" and loaded[1].prompt == "how many ?"
    original = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert np.array_equal(np.asarray(loaded[0].open_image()), original)


def test_rlaif_v_parquet_with_image_bytes(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pngs = [_png_bytes(i) for i in range(3)]
    table = pa.table({
        "idx": [f"rlaif_{i}" for i in range(3)],
        "question": ["describe .", "what color ?", "is there a dog ?"],
        "chosen": ["a dog .", "red .", "yes ."], "rejected": ["a cat .", "blue .", "no ."],
        "image": [{"bytes": b, "path": f"coco/{i}.jpg"} for i, b in enumerate(pngs)],
        "image_path": [f"coco/{i}.jpg" for i in range(3)],
        "origin_dataset": ["coco"] * 3,
    })
    pq.write_table(table, tmp_path / "part-0.parquet")
    loaded = load_rows(tmp_path / "part-0.parquet")
    assert [r.id for r in loaded] == ["rlaif_0", "rlaif_1", "rlaif_2"]
    assert [r.image_bytes for r in loaded] == pngs  # bytes win over the (absent) image_path files
    assert loaded[1].prompt == "what color ?" and loaded[2].chosen == "yes ."
    # A directory of parquet parts is read in name order.
    more = table.set_column(0, "idx", pa.array([f"more_{i}" for i in range(3)]))
    pq.write_table(more, tmp_path / "part-1.parquet")
    assert [r.id for r in load_rows(tmp_path)][3:] == ["more_0", "more_1", "more_2"]


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch):
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(TrainDataError, match=r"d.parquet: reading parquet needs pyarrow; run `pip install"):
        load_rows(tmp_path / "d.parquet")


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda r: r.pop("chosen"), r"row 1 \(id p1\): missing field 'chosen'; add 'chosen' or drop the row"),
        (lambda r: r.update(rejected="   "), r"row 1 \(id p1\): empty rejected response"),
        (lambda r: r.update(chosen=""), r"row 1 \(id p1\): empty chosen response"),
        (lambda r: r.update(image="missing.png"), r"row 1 \(id p1\): image 'missing.png' not found"),
        (lambda r: r.pop("image"), r"row 1 \(id p1\): missing field 'image'"),
        (lambda r: r.update(id="p0"), r"row 1: id 'p0' already used by .* row 0; make ids unique"),
        (lambda r: r.update(images=["a.png", "b.png"], image=None), r"'images' holds 2 entries; one image"),
        (lambda r: r.update(prompt=[{"role": "user", "content": "hi"}]), r"'prompt' is a list of messages"),
        (lambda r: r.update(image={"bytes": "not base64!"}), r"image bytes are neither raw bytes nor base64"),
    ],
)
def test_bad_rows_name_file_row_and_fix(tmp_path, edit, pattern):
    rows = pair_rows(tmp_path, 3)
    edit(rows[1])
    with pytest.raises(TrainDataError, match=pattern):
        load_rows(write_json(tmp_path / "rows.json", rows))


def test_bad_files(tmp_path):
    with pytest.raises(TrainDataError, match=r"nope.json: file not found"):
        load_rows(tmp_path / "nope.json")
    (tmp_path / "a.csv").write_text("x", encoding="utf-8")
    with pytest.raises(TrainDataError, match=r"unsupported suffix '.csv'"):
        load_rows(tmp_path / "a.csv")
    (tmp_path / "b.jsonl").write_text('{"prompt": "x"}\n{oops\n', encoding="utf-8")
    with pytest.raises(TrainDataError, match=r"b.jsonl: line 2 is not valid JSON"):
        load_rows(tmp_path / "b.jsonl")
    write_json(tmp_path / "c.json", [{"question_text": "x"}])
    with pytest.raises(TrainDataError, match=r"cannot tell the format from keys \['question_text'\]"):
        load_rows(tmp_path / "c.json")
    write_json(tmp_path / "e.json", [])
    with pytest.raises(TrainDataError, match=r"no rows"):
        load_rows(tmp_path / "e.json")


def test_cli_stops_on_bad_rows_before_loading_a_model(tmp_path, capsys):
    rows = pair_rows(tmp_path, 2)
    rows[1]["chosen"] = " "
    data = write_json(tmp_path / "rows.json", rows)
    out = tmp_path / "run"
    # The model path does not exist: the data error must come first, before any model is loaded.
    code = main([f"model={tmp_path / 'no_model'}", f"data={data}", f"output_dir={out}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "rows.json row 1 (id p1): empty chosen response" in err and err.count("\n") == 1
    assert not out.exists()
