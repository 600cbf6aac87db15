"""Training data through ``datasets``: Arrow cache + memory map, lazy rows and images, saved datasets, hub ids,
TRL's conversational rows, streaming and the per-rank shards under DDP."""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_trainer_support import build_base, pair_rows, small_config, write_json

import uedpo.train.data as data_module
from uedpo.models import load_adapter
from uedpo.train.collate import PreferenceCollator, check_rows_fit
from uedpo.train.config import ConfigError, TrainConfig
from uedpo.train.data import (
    PreferenceDataset,
    PreferenceRow,
    TrainDataError,
    is_hub_id,
    load_rows,
    stream_rows,
)
from uedpo.trainer import _warn_shared_shards, train, training_arguments

datasets = pytest.importorskip("datasets")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _png(seed: int, size=(24, 16)) -> bytes:
    from PIL import Image

    rs = np.random.RandomState(seed)
    buf = io.BytesIO()
    Image.fromarray((rs.rand(size[1], size[0], 3) * 255).astype("uint8")).save(buf, format="PNG")
    return buf.getvalue()


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return build_base(tmp_path_factory.mktemp("data_ckpt"), "llava")


# ----- map-style: Arrow cache, memory map, lazy rows ---------------------------------------------------------

def test_rows_live_in_the_arrow_cache_and_are_built_when_read(tmp_path):
    data = write_json(tmp_path / "rows.json", pair_rows(tmp_path, 5))
    cache = tmp_path / "cache"
    rows = load_rows(data, cache_dir=str(cache))
    assert isinstance(rows, PreferenceDataset) and isinstance(rows, torch.utils.data.Dataset) and len(rows) == 5
    (part,) = rows.parts
    files = [f["filename"] for f in part.table.cache_files]
    assert files and all(str(cache) in f for f in files)  # memory-mapped from the cache, not held in memory
    assert [r.id for r in rows] == [f"p{i}" for i in range(5)]
    assert rows[-1].id == "p4" and [r.id for r in rows[1:3]] == ["p1", "p2"]
    assert rows[2] == rows[2] and rows[2] is not rows[2]  # a fresh row per read, equal each time
    with pytest.raises(IndexError):
        rows[5]
    assert [[r.id for r in chunk] for chunk in rows.chunks(2)] == [["p0", "p1"], ["p2", "p3"], ["p4"]]
    # The same file again: the cache is reused; a changed file is read again.
    assert [f["filename"] for f in load_rows(data, cache_dir=str(cache)).parts[0].table.cache_files] == files
    changed = pair_rows(tmp_path, 5)
    changed[0]["chosen"] = "a new answer ."
    write_json(data, changed)
    assert load_rows(data, cache_dir=str(cache))[0].chosen == "a new answer ."


def test_images_are_not_decoded_until_the_collator(tmp_path, llava, monkeypatch):
    data = write_json(tmp_path / "rows.json", pair_rows(tmp_path, 3))
    opened = []
    real_open = data_module.Image.open

    def counting_open(*args, **kwargs):
        opened.append(args[0])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(data_module.Image, "open", counting_open)
    rows = load_rows(data, cache_dir=str(tmp_path / "cache"))
    assert opened == [] and all(r.image_path.is_file() and r.image_bytes is None for r in rows)
    batch = PreferenceCollator(load_adapter(llava, device="cpu"), max_length=512)(rows[:2])
    assert len(opened) == 2 and batch["sample_ids"] == ["p0", "p1"]


def test_the_up_front_pass_reads_the_files_not_the_memory_map(tmp_path):
    """Reading 40 MB of rows through the map would leave them resident (RssFile); the check reads the files."""
    n, size = 4000, 10_000
    rs = np.random.RandomState(0)
    table = pa.table({
        "idx": [f"r{i}" for i in range(n)], "question": ["what ?"] * n, "chosen": ["a dog ."] * n,
        "rejected": ["a cat ."] * n, "image": [{"bytes": rs.bytes(size), "path": None} for _ in range(n)],
    })
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=100)
    del table
    load_rows(tmp_path / "big.parquet", cache_dir=str(tmp_path / "cache"))  # the Arrow copy, then unmapped
    gc.collect()

    def rss_file_mb() -> float:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssFile")) / 1024

    before = rss_file_mb()
    rows = load_rows(tmp_path / "big.parquet", cache_dir=str(tmp_path / "cache"))  # maps it, checks every row
    assert sum(1 for chunk in rows.chunks() for _ in chunk) == n
    assert rss_file_mb() - before < 15  # the data is 40 MB
    _ = [rows[i].image_bytes for i in range(n)]  # reading the rows through the map does make them resident
    assert rss_file_mb() - before > 30


def test_check_rows_fit_reads_a_dataset_in_chunks_with_the_same_report(tmp_path, llava):
    rows = load_rows(write_json(tmp_path / "rows.json", pair_rows(tmp_path, 7)), cache_dir=str(tmp_path / "c"))
    adapter = load_adapter(llava, device="cpu")
    report = check_rows_fit(rows, adapter, 47, chunk=3)
    assert report == check_rows_fit(list(rows), adapter, 47, chunk=3) and report.truncated_rejected > 0


def test_json_columns_of_mixed_types_keep_their_values(tmp_path):
    rows = pair_rows(tmp_path, 3)
    rows[0]["id"], rows[1]["id"] = 17, "x"  # int and str ids: datasets stores such a column as JSON text
    rows[2]["prompt"] = "[1, 2] looks like JSON"
    loaded = load_rows(write_json(tmp_path / "rows.json", rows), cache_dir=str(tmp_path / "c"))
    assert [r.id for r in loaded] == ["17", "x", "p2"] and loaded[2].prompt == "[1, 2] looks like JSON"


def test_not_a_list_and_empty_json_keep_their_messages(tmp_path):
    (tmp_path / "d.json").write_text('{"prompt": "x"}', encoding="utf-8")
    with pytest.raises(TrainDataError, match=r"d.json: expected a JSON list of rows, got dict"):
        load_rows(tmp_path / "d.json", cache_dir=str(tmp_path / "c"))
    write_json(tmp_path / "n.json", [1, 2])
    with pytest.raises(TrainDataError, match=r"n.json row 0: expected an object of fields, got int"):
        load_rows(tmp_path / "n.json", cache_dir=str(tmp_path / "c"))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(TrainDataError, match=r"bad.parquet: not a readable parquet file \(ArrowInvalid\)"):
        load_rows(tmp_path / "bad.parquet", cache_dir=str(tmp_path / "c"))


def test_directory_of_parts_in_several_formats_keeps_ids_and_row_numbers(tmp_path):
    rows = pair_rows(tmp_path, 4)
    for row in rows:
        del row["id"]
    write_json(tmp_path / "a.json", rows[:2])
    pq.write_table(pa.table({"question": ["what ?"], "chosen": ["x ."], "rejected": ["y ."],
                             "image": [{"bytes": _png(0), "path": None}]}), tmp_path / "b.parquet")
    _jsonl(tmp_path / "c.jsonl", rows[2:])
    loaded = load_rows(tmp_path, cache_dir=str(tmp_path / "cache"))
    assert [r.id for r in loaded] == ["a.json:0", "a.json:1", "b.parquet:0", "c.jsonl:0", "c.jsonl:1"]
    assert loaded[2].image_bytes == _png(0) and loaded.source_of(4) == f"{tmp_path / 'c.jsonl'} row 1"
    rows[3]["chosen"] = ""
    _jsonl(tmp_path / "c.jsonl", rows[2:])
    with pytest.raises(TrainDataError, match=r"c.jsonl row 1 \(id c.jsonl:1\): empty chosen response"):
        load_rows(tmp_path, cache_dir=str(tmp_path / "cache"))


# ----- saved datasets and hub ids ----------------------------------------------------------------------------

def test_a_saved_dataset_directory_and_its_splits(tmp_path):
    pngs = [_png(i) for i in range(3)]
    table = datasets.Dataset.from_dict(
        {"idx": ["a", "b", "c"], "question": ["q1", "q2", "q3"], "chosen": ["x .", "y .", "z ."],
         "rejected": ["u .", "v .", "w ."], "image": [{"bytes": b, "path": None} for b in pngs]},
        features=datasets.Features({"idx": datasets.Value("string"), "question": datasets.Value("string"),
                                    "chosen": datasets.Value("string"), "rejected": datasets.Value("string"),
                                    "image": datasets.Image()}),
    )
    table.save_to_disk(str(tmp_path / "saved"))
    loaded = load_rows(tmp_path / "saved")
    assert [r.id for r in loaded] == ["a", "b", "c"] and [r.image_bytes for r in loaded] == pngs  # not PIL
    assert loaded[0].source == f"{tmp_path / 'saved'} row 0"
    datasets.DatasetDict({"train": table.select([0]), "test": table.select([1, 2])}).save_to_disk(
        str(tmp_path / "dict"))
    assert [r.id for r in load_rows(tmp_path / "dict", data_split="test")] == ["b", "c"]
    with pytest.raises(TrainDataError, match=r"dict: no split 'val' \(splits: train, test\); set data_split"):
        load_rows(tmp_path / "dict", data_split="val")


def test_hub_ids_are_told_from_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_hub_id("openbmb/RLAIF-V-Dataset") and is_hub_id("HuggingFaceH4/rlaif-v_formatted")
    assert not is_hub_id("data/rows.json") and not is_hub_id("/abs/dir") and not is_hub_id("a/b/c")
    (tmp_path / "owner" / "name").mkdir(parents=True)
    assert not is_hub_id("owner/name")  # an existing directory wins
    with pytest.raises(TrainDataError, match=r"data data/rows.json: file not found"):
        load_rows("data/rows.json")


def test_a_hub_id_while_offline_is_one_line_without_network(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    code = ("from uedpo.train.data import load_rows\n"
            "try:\n    load_rows('uedpo-tests/no-such-data')\n"
            "except ValueError as err:\n    print(type(err).__name__, err)\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    out = done.stdout.strip()
    assert out.startswith("TrainDataError data uedpo-tests/no-such-data: not a local file or directory, and as a "
                          "hub dataset: offline mode (HF_HUB_OFFLINE)"), done.stdout + done.stderr
    assert out.endswith("pass a local file or directory") and "\n" not in out


# ----- TRL conversational rows -------------------------------------------------------------------------------

def _conversational(question="what is this ?", chosen="a dog .", rejected="a cat .", image_parts=1):
    content = [{"type": "image", "text": None}] * image_parts + [{"type": "text", "text": question}]
    return {"prompt": [{"role": "user", "content": content}],
            "chosen": [{"role": "assistant", "content": [{"type": "text", "text": chosen}]}],
            "rejected": [{"role": "assistant", "content": [{"type": "text", "text": rejected}]}]}


def test_trl_conversational_parquet_with_image_bytes(tmp_path):
    """The layout of HuggingFaceH4/rlaif-v_formatted: images = a list of Image, messages with typed parts."""
    pngs = [_png(i) for i in range(3)]
    records = [_conversational(f"<image>\nquestion {i} ?", f"answer {i} .", f"wrong {i} .") for i in range(3)]
    records[1]["prompt"][0]["content"].insert(1, {"type": "text", "text": "look closely ."})
    part = {"type": datasets.Value("string"), "text": datasets.Value("string")}
    messages = datasets.List({"role": datasets.Value("string"), "content": datasets.List(part)})
    table = datasets.Dataset.from_dict(
        {"images": [[{"bytes": b, "path": None}] for b in pngs], **{k: [r[k] for r in records] for k in records[0]}},
        features=datasets.Features({"images": datasets.List(datasets.Image()), "prompt": messages,
                                    "chosen": messages, "rejected": messages}),
    )
    table.to_parquet(str(tmp_path / "train-00000.parquet"))
    loaded = load_rows(tmp_path / "train-00000.parquet", cache_dir=str(tmp_path / "cache"))
    assert [r.id for r in loaded] == ["0", "1", "2"]
    assert [r.image_bytes for r in loaded] == pngs and all(r.image_path is None for r in loaded)
    assert [r.prompt for r in loaded] == ["question 0 ?", "look closely . question 1 ?", "question 2 ?"]
    assert loaded[2].chosen == "answer 2 ." and loaded[2].rejected == "wrong 2 ."


def test_trl_conversational_json_equals_the_plain_rows(tmp_path):
    plain = pair_rows(tmp_path, 3)
    talk = [{"id": r["id"], "images": [r["image"]], **_conversational(r["prompt"], r["chosen"], r["rejected"])}
            for r in plain]
    talk[2]["chosen"][0]["content"] = plain[2]["chosen"]  # a content given as a string
    a = load_rows(write_json(tmp_path / "plain.json", plain), cache_dir=str(tmp_path / "c"))
    b = load_rows(write_json(tmp_path / "talk.json", talk), cache_dir=str(tmp_path / "c"))
    assert [(r.id, r.prompt, r.chosen, r.rejected, r.image_path) for r in a] == \
        [(r.id, r.prompt, r.chosen, r.rejected, r.image_path) for r in b]
    sft = [{k: v for k, v in r.items() if k != "rejected"} for r in talk]
    rows = load_rows(write_json(tmp_path / "sft.json", sft), need_rejected=False, cache_dir=str(tmp_path / "c"))
    assert [r.rejected for r in rows] == [None] * 3


def _edit_system(r):
    r["prompt"].insert(0, {"role": "system", "content": [{"type": "text", "text": "be brief"}]})


def _edit_turns(r):
    r["prompt"] += [{"role": "assistant", "content": [{"type": "text", "text": "a"}]}, r["prompt"][0]]


@pytest.mark.parametrize("edit, pattern", [
    (_edit_system, r"'prompt' holds 2 messages \(system, user\); one user message is supported"),
    (_edit_turns, r"'prompt' holds 3 messages \(user, assistant, user\)"),
    (lambda r: r.update(_conversational(image_parts=2)), r"the 'prompt' message has 2 image parts"),
    (lambda r: r.update(_conversational(image_parts=0)), r"the 'prompt' message has 0 image parts"),
    (lambda r: r["chosen"][0]["content"].append({"type": "image", "text": None}),
     r"the 'chosen' message has 1 image parts; rows need answers with no \{'type': 'image'\} part"),
    (lambda r: r["rejected"][0].update(role="user"), r"the 'rejected' message has role 'user', expected 'assistant'"),
    (lambda r: r["chosen"].append(r["chosen"][0]), r"'chosen' holds 2 messages"),
    (lambda r: r["prompt"][0]["content"].append({"type": "video", "text": None}), r"has a 'video' part"),
    (lambda r: r.update(rejected="a cat ."), r"'prompt' is a list of messages \(conversational format\) but "
                                             r"'rejected' is str; give prompt, chosen and rejected all as"),
    (lambda r: r["chosen"][0].update(content=[{"type": "text", "text": "  "}]), r"empty chosen response"),
    (lambda r: r.update(images=[r["images"][0]] * 2), r"'images' holds 2 entries; one image per row"),
])
def test_conversational_rows_that_cannot_be_one_question_and_answer_are_refused(tmp_path, edit, pattern):
    plain = pair_rows(tmp_path, 3)
    talk = [{"id": r["id"], "images": [r["image"]], **_conversational()} for r in plain]
    edit(talk[1])
    with pytest.raises(TrainDataError, match=pattern) as err:
        load_rows(write_json(tmp_path / "talk.json", talk), cache_dir=str(tmp_path / "c"))
    assert str(err.value).startswith(f"{tmp_path / 'talk.json'} row 1 (id p1): ") and "\n" not in str(err.value)


# ----- streaming -------------------------------------------------------------------------------------------

def _shards(folder, n_files=2, per_file=3):
    rows = pair_rows(folder, n_files * per_file)
    for k in range(n_files):
        _jsonl(folder / f"part-{k}.jsonl", rows[k * per_file:(k + 1) * per_file])
    return rows


def test_streamed_rows_equal_the_loaded_rows(tmp_path):
    rows = _shards(tmp_path / "d")
    streamed = list(stream_rows(tmp_path / "d"))
    loaded = load_rows(tmp_path / "d", cache_dir=str(tmp_path / "c"))
    assert [r["id"] for r in streamed] == [r["id"] for r in rows]  # file order, every row once
    by_id = {r.id: r for r in loaded}
    for item in streamed:
        row = PreferenceRow.from_mapping(item)
        assert (row.prompt, row.chosen, row.rejected, row.image_path) == \
            (by_id[row.id].prompt, by_id[row.id].chosen, by_id[row.id].rejected, by_id[row.id].image_path)
        assert row.source == f"{tmp_path / 'd'} (streamed)"


def test_streaming_needs_ids_and_checks_rows_as_they_are_read(tmp_path):
    rows = _shards(tmp_path / "d")
    for row in rows[:3]:
        del row["id"]
    _jsonl(tmp_path / "d" / "part-0.jsonl", rows[:3])
    with pytest.raises(TrainDataError, match=r"\(streamed\): a row without 'id' or 'idx'; data_streaming needs ids"):
        stream_rows(tmp_path / "d")
    rows = _shards(tmp_path / "e")
    rows[4]["image"] = "../outside.png"
    _jsonl(tmp_path / "e" / "part-1.jsonl", rows[3:])
    stream = stream_rows(tmp_path / "e")  # the first row is fine
    with pytest.raises(TrainDataError, match=r"\(streamed\) \(id p4\): image '../outside.png' resolves to"):
        list(stream)


def test_each_rank_streams_only_its_own_files(tmp_path):
    """accelerate's sharding of a datasets.IterableDataset (dispatch_batches off, as the trainer sets it)."""
    from accelerate.data_loader import prepare_data_loader

    def rank_ids(rank):
        loader = torch.utils.data.DataLoader(stream_rows(tmp_path / "d"), batch_size=1, collate_fn=list)
        prepared = prepare_data_loader(loader, num_processes=2, process_index=rank, put_on_device=False,
                                       dispatch_batches=False)
        return [row["id"] for batch in prepared for row in batch]

    _shards(tmp_path / "d", n_files=2, per_file=3)
    assert stream_rows(tmp_path / "d").num_shards == 2
    ids = {rank: rank_ids(rank) for rank in (0, 1)}
    files = {rank: {int(i[1:]) // 3 for i in ids[rank]} for rank in (0, 1)}
    assert sorted(ids[0] + ids[1]) == [f"p{i}" for i in range(6)]
    assert len(files[0]) == len(files[1]) == 1 and files[0] != files[1]  # one whole file per rank
    # The rank reading part-0 never opens part-1: breaking part-1 changes nothing for it.
    rank = 0 if files[0] == {0} else 1
    (tmp_path / "d" / "part-1.jsonl").write_text("{not json\n", encoding="utf-8")
    assert rank_ids(rank) == ids[rank]
    with pytest.raises(Exception):  # noqa: B017  (the other rank hits the broken file)
        rank_ids(1 - rank)


def test_streaming_config_and_trainer_arguments(tmp_path, caplog, monkeypatch):
    with pytest.raises(ConfigError, match=r"data_streaming=true .* needs max_steps > 0"):
        TrainConfig(model="m", data="d", output_dir="o", data_streaming=True)
    cfg = TrainConfig(model="m", data="d", output_dir=str(tmp_path / "o"), data_streaming=True, max_steps=3,
                      report_to="none")
    assert training_arguments(cfg).accelerator_config.dispatch_batches is False
    plain = TrainConfig(model="m", data="d", output_dir=str(tmp_path / "o"), report_to="none")
    assert training_arguments(plain).accelerator_config.dispatch_batches is None  # accelerate's default
    monkeypatch.setenv("WORLD_SIZE", "4")
    with caplog.at_level(logging.WARNING, logger="uedpo.trainer"):
        _warn_shared_shards(4)
        assert not caplog.records
        _warn_shared_shards(2)
    assert "2 shards (files) for 4 ranks, so every rank reads all the data" in caplog.text


def test_a_streamed_run_trains(tmp_path, llava):
    _shards(tmp_path / "d", n_files=2, per_file=2)
    out = train(small_config(llava, tmp_path / "d", tmp_path / "run", data_streaming=True, max_steps=2,
                             batch_size=1, loss="dpo"))
    assert (out / "adapter_model.safetensors").is_file()
    assert "data_streaming: true" in (out / "config.yaml").read_text()


def test_streamed_dict_rows_collate_like_rows(tmp_path, llava):
    _shards(tmp_path / "d", n_files=1, per_file=2)
    items = sorted(stream_rows(tmp_path / "d"), key=lambda r: r["id"])
    collator = PreferenceCollator(load_adapter(llava, device="cpu"), max_length=512)
    a = collator(items)
    b = collator(list(load_rows(tmp_path / "d", cache_dir=str(tmp_path / "c"))))
    assert a["sample_ids"] == b["sample_ids"] == ["p0", "p1"]
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["pixel_values"], b["pixel_values"])


def test_train_help_does_not_import_datasets():
    code = ("import sys\nfrom uedpo.train.cli import _parser\nfrom uedpo.train.config import load_config\n"
            "_parser().format_help()\nprint('datasets' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
