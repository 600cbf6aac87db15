"""CHAIR end to end on the 500 OPERA LLaVA-1.5 captions: this toolkit against the official script's loop.

Both sides run in a FRESH Python process each (so NLTK resources load once per side, as for a user running the
tool), timed from before their imports to the final metrics:

* reference: a plain reimplementation of how ``shikiw/OPERA`` @ 61426ef ``chair.py`` works (the file itself is
  not used): build the evaluator (synonym tables, double words, ground truth of ALL 123,287 COCO images as
  sets, the analogue of unpickling its ``chair.pkl`` cache), then per caption ``nltk.word_tokenize``,
  ``nltk.pos_tag``, a new ``WordNetLemmatizer`` and ``lemmatize(word, pos)`` per token, the double-word loop,
  ``set(mscoco_objects)`` rebuilt inside the comprehensions, and the ``compute_chair`` counting;
* toolkit: ``load_vocabulary`` + ``load_captions`` + ``load_gt_objects`` (only the needed images) +
  ``score_chair`` (nltk 3.9.1 tokenizer, memoised perceptron tagger, lightweight WordNet morphology).

The reference uses the INSTALLED nltk's ``word_tokenize``, so on nltk > 3.9.1 a few captions tokenize
differently from the toolkit (which reproduces the official outputs); the script reports how many. Prints the
median time of each side over ``--repeats`` alternating runs and the ratio (target: >= 5x).

    python benchmarks/bench_chair.py [--data-dir DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CAPTIONS = "object_halbench/validation/opera_llava15/greedy.jsonl"
SYNONYMS = "object_halbench/vocab/synonyms.txt"
GT = "object_halbench/gt/coco2014_gt_objects_maxlinn.json.gz"
REPO = Path(__file__).resolve().parents[1]

# The official chair.py rules (see benchmarks_data/coco_vocab.py for their provenance).
DOUBLE_WORDS = [
    "motor bike",
    "motor cycle",
    "air plane",
    "traffic light",
    "street light",
    "traffic signal",
    "stop light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "suit case",
    "sports ball",
    "baseball bat",
    "baseball glove",
    "tennis racket",
    "wine glass",
    "hot dog",
    "cell phone",
    "mobile phone",
    "teddy bear",
    "hair drier",
    "potted plant",
    "bow tie",
    "laptop computer",
    "stove top oven",
    "hot dog",
    "teddy bear",
    "home plate",
    "train track",
]
ANIMALS = [
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "animal",
    "cub",
]


def reference_run(data_dir: Path) -> dict:
    """The official script's structure, step by step (one process, resources loaded on first use)."""
    start = time.perf_counter()
    import gzip

    import nltk
    from nltk.corpus import wordnet
    from nltk.stem import WordNetLemmatizer

    # --- build the evaluator (CHAIR.__init__ + cached imid_to_objects)
    synonyms = ("\n" + (data_dir / SYNONYMS).read_text(encoding="utf-8")).splitlines()
    synonyms = [s.strip().split(", ") for s in synonyms]
    mscoco_objects, inverse_synonym_dict = [], {}
    for synonym in synonyms:
        mscoco_objects.extend(synonym)
        for s in synonym:
            inverse_synonym_dict[s] = synonym[0]
    double_word_dict = {w: w for w in DOUBLE_WORDS}
    for animal in ANIMALS:
        double_word_dict[f"baby {animal}"] = animal
        double_word_dict[f"adult {animal}"] = animal
    for vehicle in ["jet", "train"]:
        double_word_dict[f"passenger {vehicle}"] = vehicle
    double_word_dict.update({"bow tie": "tie", "toilet seat": "toilet", "wine glas": "wine glass"})
    with gzip.open(data_dir / GT, "rt", encoding="utf-8") as fh:
        imid_to_objects = {int(k): set(v) for k, v in json.load(fh).items()}

    def get_wordnet_pos(tag):
        return {"J": wordnet.ADJ, "V": wordnet.VERB, "N": wordnet.NOUN, "R": wordnet.ADV}.get(tag[:1])

    def caption_to_words(caption):
        words = nltk.word_tokenize(caption.lower())
        tagged_sent = nltk.pos_tag(words)
        wnl = WordNetLemmatizer()
        words = [wnl.lemmatize(w, pos=get_wordnet_pos(t) or wordnet.NOUN) for w, t in tagged_sent]
        i, double_words, idxs = 0, [], []
        while i < len(words):
            idxs.append(i)
            double_word = " ".join(words[i : i + 2])
            if double_word in double_word_dict:
                double_words.append(double_word_dict[double_word])
                i += 2
            else:
                double_words.append(words[i])
                i += 1
        words = double_words
        if ("toilet" in words) & ("seat" in words):
            words = [word for word in words if word != "seat"]
        idxs = [idxs[idx] for idx, word in enumerate(words) if word in set(mscoco_objects)]
        words = [word for word in words if word in set(mscoco_objects)]
        return words, [inverse_synonym_dict[w] for w in words], idxs, double_words

    # --- compute_chair
    caps = [json.loads(s) for s in open(data_dir / CAPTIONS, encoding="utf-8")]
    num_caps = num_hallucinated_caps = hallucinated_word_count = coco_word_count = len_caps = 0.0
    mentions = []
    for cap in caps:
        words, node_words, idxs, raw_words = caption_to_words(cap["caption"])
        gt_objects = imid_to_objects[cap["image_id"]]
        coco_word_count += len(node_words)
        hallucinated = False
        for node_word in node_words:
            if node_word not in gt_objects:
                hallucinated_word_count += 1
                hallucinated = True
        num_caps += 1
        len_caps += len(raw_words)
        num_hallucinated_caps += hallucinated
        mentions.append(node_words)
    metrics = {
        "CHAIRs": 100 * num_hallucinated_caps / num_caps,
        "CHAIRi": 100 * hallucinated_word_count / coco_word_count,
        "Len": 100 * 0.01 * len_caps / num_caps,
    }
    return {"seconds": time.perf_counter() - start, "metrics": metrics, "mentions": mentions}


def toolkit_run(data_dir: Path) -> dict:
    """The toolkit's loaders and scorer."""
    start = time.perf_counter()
    from benchmarks_data.chair_inputs import load_captions, load_vocabulary
    from benchmarks_data.coco import load_gt_objects
    from evaluation.chair import score_chair

    vocab = load_vocabulary("original", data_dir)
    records = load_captions(data_dir / CAPTIONS)
    gt = load_gt_objects(data_dir=data_dir, image_ids={r.image_id for r in records})
    result = score_chair(
        [r.caption for r in records], [r.image_id for r in records], gt, vocab, progress=False
    )
    metrics = {k: v for k, v in result.metrics_percent().items() if k != "Recall"}
    return {
        "seconds": time.perf_counter() - start,
        "metrics": metrics,
        "mentions": [list(item.mentioned) for item in result.items],
    }


def _child(mode: str, data_dir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return json.loads(out.stdout)


def run(data_dir: str | os.PathLike | None = None, repeats: int = 3) -> dict:
    """Alternate fresh-process runs of both sides; print and return the median times and their ratio."""
    root = Path(data_dir or os.environ.get("UEDPO_DATA_DIR", REPO.parent / "shared" / "benchdata"))
    ref_times, our_times = [], []
    for _ in range(repeats):
        ref = _child("reference", root)
        ours = _child("toolkit", root)
        ref_times.append(ref["seconds"])
        our_times.append(ours["seconds"])
    differing = sum(a != b for a, b in zip(ref["mentions"], ours["mentions"], strict=True))
    summary = {
        "reference_s": statistics.median(ref_times),
        "toolkit_s": statistics.median(our_times),
        "captions": len(ours["mentions"]),
        "captions_with_different_mentions": differing,
        "reference_metrics": ref["metrics"],
        "toolkit_metrics": ours["metrics"],
    }
    summary["speedup"] = summary["reference_s"] / summary["toolkit_s"]
    runs = {
        side: ", ".join(f"{t:.2f}" for t in times)
        for side, times in (("ref", ref_times), ("ours", our_times))
    }
    print(f"CHAIR end to end, {summary['captions']} OPERA LLaVA-1.5 captions, median of {repeats} fresh runs")
    print(f"  official-style loop: {summary['reference_s']:.2f} s   (runs: {runs['ref']})")
    print(f"  toolkit:             {summary['toolkit_s']:.2f} s   (runs: {runs['ours']})")
    print(f"  speedup:             {summary['speedup']:.1f}x  (target >= 5x)")
    print(f"  metrics reference {json.dumps(ref['metrics'])}")
    print(f"  metrics toolkit   {json.dumps(ours['metrics'])}")
    print(f"  captions whose mentions differ: {differing} (installed nltk tokenizer vs nltk 3.9.1)")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="benchmark data root (default: $UEDPO_DATA_DIR)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["reference", "toolkit"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        runner = reference_run if args.child == "reference" else toolkit_run
        print(json.dumps(runner(Path(args.data_dir))))
        return
    run(args.data_dir, args.repeats)


if __name__ == "__main__":
    main()
