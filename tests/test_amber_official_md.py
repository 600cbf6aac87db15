"""The official AMBER run with real spaCy vectors, reproduced metric for metric and item for item.

Data (``amber/validation/official_md/``, see its README): the stdout of the unmodified official
``inference.py`` (``junyangwang0410/AMBER`` @ 534babf, ``-a``, nltk 3.9.1, spaCy 3.8.18 with en_core_web_md
3.8.0 in place of en_core_web_lg) on ``responses_all.json`` (15,220 answers), and its per-item locals. The
printed file is parsed here; no number is copied into this test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO, need_data, need_nltk, need_spacy_md

from benchmarks_data.amber import load_amber, load_amber_responses
from evaluation.amber import SpacySimilarity, SpacyVectorsSimilarity, score_amber
from evaluation.amber.official_stdout import parse_official_stdout
from evaluation.benches.amber import parse_similarity_spec

OFFICIAL_MD = "amber/validation/official_md/"
FILES = ("responses_all.json", "official_stdout_all.txt", "official_per_item_generative.jsonl")
# Modules the AMBER scoring path must not import: they cost seconds (torch ~1.2 s, spaCy ~2 s).
HEAVY_MODULES = ("torch", "transformers", "peft", "accelerate", "gradio", "spacy", "thinc")


@pytest.fixture(scope="module")
def official():
    need_nltk()
    root = need_data(*(OFFICIAL_MD + name for name in FILES), "amber/data/annotations.json")
    folder = root / OFFICIAL_MD
    printed = parse_official_stdout((folder / "official_stdout_all.txt").read_text(encoding="utf-8"))
    items = [json.loads(line) for line in (folder / "official_per_item_generative.jsonl").open()]
    assert sum(map(len, printed.values())) == 32 and len(items) == 1004  # 8 blocks x 4 values; ids 1-1004
    return {"root": root, "responses": folder / "responses_all.json", "printed": printed, "items": items}


def _item_fields(mention_words, verdicts, hallucinated, covered, cog) -> dict[str, list]:
    """Our record in the official per-item vocabulary: nouns (candidates), flags (1 = hallucinated)..."""
    return {
        "nouns": list(mention_words),
        "flags": [int(v == "hallucinated") for v in verdicts],
        "hallucinated": list(hallucinated),
        "cover": [int(c) for c in covered],
        "cog": [int(c) for c in cog],
    }


def _assert_items(official_items, ours: dict[int, dict[str, list]]) -> None:
    assert sorted(ours) == [item["id"] for item in official_items]
    differ = [
        item["id"]
        for item in official_items
        if ours[item["id"]] != {key: item[key] for key in ("nouns", "flags", "hallucinated", "cover", "cog")}
    ]
    assert differ == []


@pytest.mark.parametrize("implementation", ["vectors", "pipeline"])
def test_library_reproduces_the_official_run(official, spacy_md_nlp, implementation):
    md = need_spacy_md()
    data = load_amber(official["root"])
    if implementation == "vectors":
        backend = parse_similarity_spec(f"spacy:{md}")
        assert isinstance(backend, SpacyVectorsSimilarity)
    else:  # the real nlp(w1).similarity(nlp(w2)), on the session's pipeline
        assert isinstance(parse_similarity_spec(f"spacy-pipeline:{md}"), SpacySimilarity)
        backend = SpacySimilarity(str(md), nlp=spacy_md_nlp)
    result = score_amber(
        load_amber_responses(official["responses"]), data, similarity=backend, progress=False
    )
    assert result.metrics == official["printed"]
    _assert_items(
        official["items"],
        {
            r.id: _item_fields(
                [m.word for m in r.mentions],
                [m.verdict for m in r.mentions],
                r.hallucinated,
                r.covered,
                r.cog,
            )
            for r in result.generative_records
        },
    )


def test_cli_reproduces_the_official_run_without_heavy_imports(official, tmp_path):
    """``uedpo-eval --bench amber --responses responses_all.json --similarity spacy:<md>`` in a fresh process:
    results.json metrics = the printed ones, every per-item field = the official one, and neither torch,
    transformers nor the spaCy pipeline modules were imported."""
    md = need_spacy_md()
    out = tmp_path / "results.json"
    argv = [
        "--bench",
        "amber",
        "--responses",
        str(official["responses"]),
        "--similarity",
        f"spacy:{md}",
        "--quiet",
        "--output-json",
        str(out),
        "--data-dir",
        str(official["root"]),
    ]
    script = textwrap.dedent(f"""
        import json, sys
        from evaluation.cli import main
        code = main({argv!r})
        print(json.dumps({{"code": code, "heavy": sorted(m for m in sys.modules
                                                      if m.split(".")[0] in {HEAVY_MODULES!r})}}))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    status = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == {"code": 0, "heavy": []}
    result = json.loads(out.read_text())
    assert result["metrics"] == official["printed"]
    assert result["versions"]["spacy_model"] == "en_core_web_md-3.8.0"
    assert result["variant"] == "official+similarity:spacy:en_core_web_md-3.8.0"  # not lg: not the official numbers
    assert result["versions"]["nltk_word_tokenize"] == "as nltk 3.9.1"
    assert result["versions"]["spacy_similarity"].startswith("vectors read from the model files")
    rows = [json.loads(line) for line in out.with_name("results.items.jsonl").open()]
    generative = [row for row in rows if row["id"] <= 1004]
    _assert_items(
        official["items"],
        {
            row["id"]: _item_fields(
                [m["word"] for m in row["record"]["mentions"]],
                [m["verdict"] for m in row["record"]["mentions"]],
                row["hallucinated"],
                row["record"]["covered"],
                row["record"]["cog"],
            )
            for row in generative
        },
    )


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("CHAIR:\t\t 22.6\n", "before any block header"),
        ("Generative:\nCHAIR:\t\t 22.6\n", "unknown block 'Generative'"),
        ("Generative Task:\nCHAIR:\t\t high\n", "'high' is not a number"),
        ("Generative Task:\nCHAIR 22.6\n", "neither a header nor"),
    ],
)
def test_official_output_parser_rejects_other_text_in_one_line(text, fragment):
    with pytest.raises(ValueError) as err:
        parse_official_stdout(text)
    assert fragment in str(err.value) and "\n" not in str(err.value)
