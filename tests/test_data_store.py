"""benchmarks_data: manifests, verify, fetch (against a local HTTP server only), where, derived files.

Expected checksums, sizes and provenance come from ``shared/benchdata/MANIFEST.md`` (the record of
how the official files were taken); expected item counts come from the task statement and the
benchmarks' papers (AMBER 15,220 = 1,004 generative + 14,216 discriminative; Object HalBench 300
prompts, 80 COCO classes, 123,287 COCO 2014 images; MMHal 96 questions).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import urllib.error
from pathlib import Path

import pytest
from conftest import need_data
from data_http_server import RewritingOpener, mirror, serve, served_path

from benchmarks_data import derive, store
from benchmarks_data.manifest import BENCHES, ManifestError, parse_manifest

RAW = "https://raw.githubusercontent.com/"


def _files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------- manifests


def test_manifests_list_exactly_the_files_of_the_shared_data_dir():
    root = need_data("MANIFEST.md")
    for bench in BENCHES:
        listed = {f.relpath for f in store.load_manifest(bench).files}
        # pope/MANIFEST.md is that folder's provenance record (checked in test_pope_data), not a data file;
        # amber/validation/official_md/ holds the official script's outputs on synthetic answers, made for the
        # parity tests (its README.md says how): no public source to fetch from, so no manifest entry.
        present = {f for f in _files_under(root / bench) if not f.startswith("validation/official_md/")}
        assert listed == present - {"MANIFEST.md"}, bench


def _manifest_md_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """(bench, relpath) -> [repo, path, short commit, bytes, sha256] from MANIFEST.md's tables."""
    rows, bench = {}, None
    for line in text.splitlines():
        heading = re.match(r"^## .*\(`(\w+)/`\)", line)
        if heading:
            bench = heading.group(1)
        elif line.startswith("| `") and bench:
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            rows[(bench, cells[0])] = cells[1:6]
    return rows


def test_manifest_provenance_matches_MANIFEST_md():
    root = need_data("MANIFEST.md")
    text = (root / "MANIFEST.md").read_text()
    full_commits = dict(re.findall(r"([\w.-]+/[\w.-]+) ([0-9a-f]{40})", text))
    rows = _manifest_md_rows(text)
    seen = set()
    for bench in (b for b in BENCHES if b != "pope"):  # POPE's rows are in pope/MANIFEST.md (test_pope_data)
        for f in store.load_manifest(bench).files:
            repo, path, short, nbytes, sha = rows[(bench, f.relpath)]
            seen.add((bench, f.relpath))
            assert (f.source.repo, f.source.path, f.bytes, f.sha256) == (repo, path, int(nbytes), sha)
            assert f.source.commit == full_commits[repo] and f.source.commit.startswith(short)
            assert f.source.url == f"{RAW}{repo}/{f.source.commit}/{path}"
            # A derived file has no URL of its own: fetch must not download its upstream in its place.
            assert f.url == (None if f.derived else f.source.url), f.relpath
    assert seen == set(rows)


def test_verify_shared_data_all_ok():
    root = need_data("amber/data/annotations.json")
    report = store.verify(None, root)
    assert report.ok, [c.message() for c in report.problems]
    assert len(report.checks) == 12 + 14 + 13 + 18
    assert report.data_dir == root


def test_item_counts_match_the_data():
    root = need_data("amber/data/annotations.json", "object_halbench/vocab/synonyms.txt",
                     "mmhal/mmhal-bench_answer_template.json")
    amber, objhal, mmhal = (store.load_manifest(b) for b in ("amber", "object_halbench", "mmhal"))
    ann = json.loads((root / "amber/data/annotations.json").read_text())
    generative = sum(a["type"] == "generative" for a in ann)
    assert (len(ann), generative, len(ann) - generative) == (15220, 1004, 14216)
    counts = amber.file("data/annotations.json").counts
    assert (counts["records"], counts["generative"], counts["discriminative"]) == (15220, 1004, 14216)
    assert len(json.loads((root / "amber/data/relation.json").read_text())) == 340
    assert amber.file("data/relation.json").counts["keys"] == 340

    questions = (root / "object_halbench/questions/obj_halbench_300_questions.jsonl").read_text().splitlines()
    assert len(questions) == 300 == objhal.file("questions/obj_halbench_300_questions.jsonl").counts["records"]
    synonyms = (root / "object_halbench/vocab/synonyms.txt").read_text().splitlines()
    assert len(synonyms) == 80 == objhal.file("vocab/synonyms.txt").counts["classes"]
    with gzip.open(root / "object_halbench/gt/coco2014_gt_objects_maxlinn.json.gz", "rt") as fh:
        assert len(json.load(fh)) == 123287
    assert objhal.file("gt/coco2014_gt_objects_maxlinn.json.gz").counts["images"] == 123287

    template = json.loads((root / "mmhal/mmhal-bench_answer_template.json").read_text())
    assert len(template) == 96 == mmhal.file("mmhal-bench_answer_template.json").counts["records"]


def test_image_entries_name_every_image_the_data_refers_to():
    """AMBER queries name AMBER_1.jpg..AMBER_1004.jpg; Object HalBench has 300 distinct COCO ids;
    MMHal's 96 image_src basenames are distinct (so a basename identifies the image)."""
    root = need_data("amber/data/query/query_all.json", "mmhal/mmhal-bench_answer_template.json",
                     "object_halbench/questions/obj_halbench_300_questions.jsonl")
    amber, objhal, mmhal = (store.load_manifest(b).images for b in ("amber", "object_halbench", "mmhal"))
    assert not (amber.included or objhal.included or mmhal.included)
    queries = json.loads((root / "amber" / amber.names_from["relpath"]).read_text())
    assert {q[amber.names_from["field"]] for q in queries} == {f"AMBER_{n}.jpg" for n in range(1, 1005)}
    assert amber.count == 1004
    lines = (root / "object_halbench" / objhal.names_from["relpath"]).read_text().splitlines()
    ids = {json.loads(line)[objhal.names_from["field"]] for line in lines}
    assert len(ids) == objhal.count == 300
    assert objhal.naming.format(image_id=339761) == "COCO_val2014_000000339761.jpg"
    records = json.loads((root / "mmhal" / mmhal.names_from["relpath"]).read_text())
    names = {os.path.basename(r[mmhal.names_from["field"]]) for r in records}
    assert len(names) == mmhal.count == 96


def _minimal_manifest(**file_overrides) -> dict:
    entry = {"relpath": "a.txt", "role": "x", "sha256": "0" * 64, "bytes": 1, "license": "MIT",
             "url": None, "source": {"repo": "o/r", "commit": "1" * 40, "path": "a.txt", "url": "https://x"}}
    entry.update(file_overrides)
    return {"schema_version": 1, "name": "t", "title": "t", "description": "", "homepage": "",
            "licenses": [], "files": [entry]}


@pytest.mark.parametrize("override, fragment", [
    ({"relpath": "../escape.txt"}, "unsafe relpath"),
    ({"relpath": "/abs.txt"}, "unsafe relpath"),
    ({"sha256": "ABC"}, "sha256"),
    ({"url": "http://insecure/a.txt"}, "https"),
    ({"source": {"repo": "o/r", "commit": "abc123", "path": "a", "url": "https://x"}}, "40-hex"),
])
def test_parse_manifest_rejects_malformed_entries(override, fragment):
    assert parse_manifest(_minimal_manifest())  # the baseline is valid
    with pytest.raises(ManifestError, match=fragment):
        parse_manifest(_minimal_manifest(**override))


def test_load_manifest_rejects_unknown_bench():
    with pytest.raises(ValueError, match="amber, object_halbench, mmhal, pope"):
        store.load_manifest("frobnicate")


# --------------------------------------------------------------------------------- derived files


def test_derived_question_list_rebuilds_byte_exact():
    root = need_data("object_halbench/validation/thunlp_exercise/beam_search_objhal_bench_answer.jsonl")
    data = derive.objhal_questions(
        root / "object_halbench/validation/thunlp_exercise/beam_search_objhal_bench_answer.jsonl")
    expected = store.load_manifest("object_halbench").file("questions/obj_halbench_300_questions.jsonl")
    assert hashlib.sha256(data).hexdigest() == expected.sha256


def test_derived_gt_subsets_and_gt_gzip_rebuild_byte_exact():
    root = need_data("object_halbench/gt/coco2014_gt_objects_maxlinn.json.gz") / "object_halbench"
    manifest = store.load_manifest("object_halbench")
    subsets = derive.maxlinn_gt_subsets(root / "gt/coco2014_gt_objects_maxlinn.json.gz",
                                        root / "questions/obj_halbench_300_questions.jsonl",
                                        root / "validation/opera_llava15/greedy.jsonl")
    assert hashlib.sha256(subsets).hexdigest() == manifest.file("gt/gt_objects_maxlinn_subsets.json").sha256
    with gzip.open(root / "gt/coco2014_gt_objects_maxlinn.json.gz", "rt") as fh:
        gt = json.load(fh)
    gz = derive.serialise_gt_objects(gt)
    assert hashlib.sha256(gz).hexdigest() == manifest.file("gt/coco2014_gt_objects_maxlinn.json.gz").sha256


def test_question_recipe_rejects_a_file_without_the_chat_prefix(tmp_path):
    bad = tmp_path / "answers.jsonl"
    bad.write_text(json.dumps({"idx": 0, "question": "Describe.", "metainfos": {"org_idx": 1},
                               "image_id": 5}) + "\n")
    with pytest.raises(ValueError, match=r"answers\.jsonl: line 1"):
        derive.objhal_questions(bad)


# ------------------------------------------------------------------- verify / require / data_file


@pytest.fixture
def tampered(tmp_path) -> Path:
    """A data dir holding two AMBER files: safe_words.txt intact, metrics.txt with one byte changed."""
    root = need_data("amber/data/safe_words.txt", "amber/data/metrics.txt")
    (tmp_path / "amber/data").mkdir(parents=True)
    shutil.copyfile(root / "amber/data/safe_words.txt", tmp_path / "amber/data/safe_words.txt")
    metrics = (root / "amber/data/metrics.txt").read_bytes()
    (tmp_path / "amber/data/metrics.txt").write_bytes(metrics.replace(b"0.001", b"0.002", 1))
    return tmp_path


def test_verify_reports_mismatch_and_missing(tampered):
    report = store.verify("amber", tampered)
    status = {c.relpath: c.status for c in report.checks}
    assert status.pop("data/safe_words.txt") == "ok"
    assert status.pop("data/metrics.txt") == "mismatch"
    assert set(status.values()) == {"missing"} and len(status) == 10
    assert not report.ok
    bad = next(c for c in report.checks if c.status == "mismatch")
    assert bad.actual == hashlib.sha256((tampered / "amber/data/metrics.txt").read_bytes()).hexdigest()


def test_require_verified_names_the_bad_file_and_the_fix(tampered):
    assert store.require_verified("amber", tampered, ["data/safe_words.txt"]) == tampered / "amber"
    with pytest.raises(store.DataError) as err:
        store.require_verified("amber", tampered, ["data/safe_words.txt", "data/metrics.txt"])
    message = str(err.value)
    assert "\n" not in message
    assert str(tampered / "amber/data/metrics.txt") in message and "sha256 mismatch" in message
    assert "uedpo-data fetch amber" in message
    with pytest.raises(store.DataError, match="annotations.json: benchmark file not found"):
        store.require_verified("amber", tampered)  # every file: the first missing one is named


def test_data_file_verify_option(tampered):
    path = store.data_file("amber", "data/metrics.txt", tampered)  # presence only: passes
    assert path == tampered / "amber/data/metrics.txt"
    assert store.data_file("amber", "data/safe_words.txt", tampered, verify=True).is_file()
    with pytest.raises(store.DataError, match="sha256 mismatch"):
        store.data_file("amber", "data/metrics.txt", tampered, verify=True)
    with pytest.raises(store.DataError, match="no checksum"):
        store.data_file("amber", "data/unknown.json", tampered, verify=True)


def test_bench_sha256s_hashes_what_is_on_disk(tampered):
    shas = store.bench_sha256s("amber", tampered)
    manifest = store.load_manifest("amber")
    assert shas == {
        "data/safe_words.txt": manifest.file("data/safe_words.txt").sha256,
        "data/metrics.txt": hashlib.sha256((tampered / "amber/data/metrics.txt").read_bytes()).hexdigest(),
    }
    assert shas["data/metrics.txt"] != manifest.file("data/metrics.txt").sha256


def test_file_sha256_streams_across_chunks(tmp_path):
    data = os.urandom((1 << 20) * 2 + 12345)  # crosses two 1 MiB chunk boundaries
    (tmp_path / "blob").write_bytes(data)
    assert store.file_sha256(tmp_path / "blob") == hashlib.sha256(data).hexdigest()


def test_where_reports_present_and_missing(tampered):
    report = store.where(tampered)
    rows = {b.bench: b for b in report.benches}
    amber = rows["amber"]
    assert (amber.present, amber.verified, amber.total, amber.status) == (2, 1, 12, "corrupt")
    assert [p.relpath for p in amber.problems if p.status == "mismatch"] == ["data/metrics.txt"]
    assert (rows["mmhal"].present, rows["mmhal"].status) == (0, "absent")
    assert rows["object_halbench"].status == "absent"
    assert report.origin == "--data-dir"


def test_where_on_the_shared_data_is_complete(monkeypatch):
    root = need_data("amber/data/annotations.json")
    monkeypatch.setenv("UEDPO_DATA_DIR", str(root))
    report = store.where()
    assert report.origin == "UEDPO_DATA_DIR" and report.data_dir == root
    assert [(b.bench, b.status, b.verified) for b in report.benches] == [
        ("amber", "complete", 12), ("object_halbench", "complete", 14), ("mmhal", "complete", 13),
        ("pope", "complete", 18)]


# ------------------------------------------------------------------------------------------ fetch


@pytest.fixture
def mmhal_server(tmp_path):
    """A local server with every MMHal file at its raw-URL path; yields (serve_root, opener)."""
    root = need_data("mmhal/mmhal-bench_answer_template.json")
    serve_root = tmp_path / "served"
    mirror("mmhal", root, serve_root)
    with serve(serve_root) as base:
        yield serve_root, RewritingOpener(base)


def _template_url() -> str:
    return store.load_manifest("mmhal").file("mmhal-bench_answer_template.json").url


def test_fetch_downloads_verifies_then_skips_valid_files(tmp_path, mmhal_server):
    _, opener = mmhal_server
    cache = tmp_path / "cache"
    report = store.fetch("mmhal", cache, opener=opener, progress=False)
    assert report.ok and {o.action for o in report.outcomes} == {"downloaded"}
    assert store.verify("mmhal", cache).ok
    assert opener.urls == [f.url for f in store.load_manifest("mmhal").files]
    assert _files_under(cache / "mmhal") == {f.relpath for f in store.load_manifest("mmhal").files}

    again = store.fetch("mmhal", cache, opener=opener, progress=False)
    assert {o.action for o in again.outcomes} == {"valid"}
    assert len(opener.urls) == 13  # nothing requested the second time


def test_fetch_rejects_a_corrupt_download_and_leaves_no_partial_file(tmp_path, mmhal_server):
    serve_root, opener = mmhal_server
    served = served_path(serve_root, _template_url())
    data = bytearray(served.read_bytes())
    data[100] ^= 0x01  # same size, different content
    served.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    report = store.fetch("mmhal", cache, opener=opener, progress=False)
    outcome = {o.relpath: o for o in report.outcomes}["mmhal-bench_answer_template.json"]
    assert outcome.action == "failed" and "sha256 mismatch" in outcome.detail
    assert not report.ok
    assert not (cache / "mmhal/mmhal-bench_answer_template.json").exists()
    expected = {f.relpath for f in store.load_manifest("mmhal").files} - {"mmhal-bench_answer_template.json"}
    assert _files_under(cache / "mmhal") == expected  # no temp/partial file anywhere


def test_fetch_stops_an_oversized_download(tmp_path, mmhal_server):
    serve_root, opener = mmhal_server
    served = served_path(serve_root, _template_url())
    served.write_bytes(served.read_bytes() + b"x" * (3 << 20))
    cache = tmp_path / "cache"
    report = store.fetch("mmhal", cache, opener=opener, progress=False)
    outcome = {o.relpath: o for o in report.outcomes}["mmhal-bench_answer_template.json"]
    assert outcome.action == "failed" and "more than the expected 50519 bytes" in outcome.detail
    assert "mmhal-bench_answer_template.json" not in _files_under(cache / "mmhal")
    assert not any(name.endswith(".part") for name in _files_under(cache))


def test_fetch_reports_http_errors(tmp_path, mmhal_server):
    serve_root, opener = mmhal_server
    served_path(serve_root, _template_url()).unlink()
    report = store.fetch("mmhal", tmp_path / "cache", opener=opener, progress=False)
    outcome = {o.relpath: o for o in report.outcomes}["mmhal-bench_answer_template.json"]
    assert outcome.action == "failed" and "404" in outcome.detail
    assert len(report.by_action("downloaded")) == 12


def test_fetch_replaces_a_corrupt_existing_file(tmp_path, mmhal_server):
    _, opener = mmhal_server
    target = tmp_path / "cache/mmhal/mmhal-bench_answer_template.json"
    target.parent.mkdir(parents=True)
    target.write_text("[]")
    report = store.fetch("mmhal", tmp_path / "cache", opener=opener, progress=False)
    assert report.ok
    assert store.file_sha256(target) == store.load_manifest("mmhal").file(target.name).sha256


def test_fetch_offline_fails_every_download_and_writes_no_file(tmp_path):
    def offline(url):
        raise urllib.error.URLError("network unreachable")

    report = store.fetch("amber", tmp_path, opener=offline, progress=False)
    assert {o.action for o in report.outcomes} == {"failed"}
    assert all("network unreachable" in o.detail for o in report.outcomes)
    assert _files_under(tmp_path) == set()


def test_fetch_object_halbench_builds_derived_files_and_names_manual_steps(tmp_path):
    root = need_data("object_halbench/gt/coco2014_gt_objects_maxlinn.json.gz")
    serve_root, cache = tmp_path / "served", tmp_path / "cache"
    mirror("object_halbench", root, serve_root)
    with serve(serve_root) as base:
        report = store.fetch("object_halbench", cache, opener=RewritingOpener(base), progress=False)
        actions = {o.relpath: o for o in report.outcomes}
        assert report.ok  # manual steps are not failures
        assert actions["questions/obj_halbench_300_questions.jsonl"].action == "built"
        gt = actions["gt/coco2014_gt_objects_maxlinn.json.gz"]
        assert gt.action == "manual" and "uedpo-data build-gt --coco-annotations DIR" in gt.detail
        subsets = actions["gt/gt_objects_maxlinn_subsets.json"]
        assert subsets.action == "manual" and "needs gt/coco2014_gt_objects_maxlinn.json.gz" in subsets.detail
        vocab = actions["gt/maxlinn_vocab_from_cache.json"]
        assert vocab.action == "manual" and "no public source" in vocab.detail
        assert len(report.by_action("downloaded")) == 10

        # Once the GT gzip is in place (built elsewhere), a second fetch builds the subsets.
        (cache / "object_halbench/gt").mkdir()
        shutil.copyfile(root / "object_halbench/gt/coco2014_gt_objects_maxlinn.json.gz",
                        cache / "object_halbench/gt/coco2014_gt_objects_maxlinn.json.gz")
        again = {o.relpath: o.action for o in store.fetch("object_halbench", cache,
                                                          opener=RewritingOpener(base), progress=False).outcomes}
    assert again.pop("gt/gt_objects_maxlinn_subsets.json") == "built"
    assert again.pop("gt/maxlinn_vocab_from_cache.json") == "manual"
    assert set(again.values()) == {"valid"}
    assert [c.relpath for c in store.verify("object_halbench", cache).problems] == [
        "gt/maxlinn_vocab_from_cache.json"]
