"""Scorer speed, each as a ratio against a baseline measured in the same run.

AMBER (all 15,220 ids: 1,004 synthetic LLaVA-length descriptions + 14,216 yes/no answers): our scorer (each
unordered vocabulary pair asked once, decisions reused) against a plain per-pair loop of the official algorithm
(``evaluation.amber.reference``: one backend call per (mention, word) pair inside the nested loops), with the
SAME backend, metrics checked identical:

* ``table``: a pseudo-similarity dict lookup, the cheapest backend (a floor on the ratio);
* ``spacy-pipeline`` (when spaCy is importable): what the official ``check_synonyms_word`` does,
  ``nlp(w1).similarity(nlp(w2))``, on a spaCy English pipeline with en_core_web_lg's trainable components
  (tagger, parser, NER; random weights, 300-d pseudo vectors), since en_core_web_lg itself cannot be had
  offline. Its per-call cost is that of a real pipeline; ``--loop-items`` limits the per-pair loop to the first
  N descriptions when minutes are not available (the ratio is then measured on that subset).

CHAIR: the 500 OPERA LLaVA-1.5 captions end to end (fresh process per side: imports, loading, tagging,
scoring) against a reimplementation of the official ``chair.py`` loop (``benchmarks/bench_chair.py``).

    UEDPO_DATA_DIR=... NLTK_DATA=... python benchmarks/bench_scorers.py [--loop-items N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_chair  # noqa: E402
from amber_synthetic import _compare, pseudo_table, synthesize_responses  # noqa: E402

from benchmarks_data.amber import load_amber  # noqa: E402
from evaluation.amber import SpacySimilarity, TableSimilarity, nltk_noun_extractor, score_amber  # noqa: E402


def spacy_pipeline(vocabulary):
    """spaCy English with en_core_web_lg's trainable components (random weights) and pseudo vectors."""
    import numpy as np
    import spacy

    nlp = spacy.blank("en")
    labels = {"tagger": ["NN", "NNS", "VB", "JJ", "DT", "IN"], "parser": ["nsubj", "dobj", "det", "ROOT"],
              "ner": ["PERSON", "ORG", "GPE", "DATE"]}
    for name, names in labels.items():
        pipe = nlp.add_pipe(name)
        for label in names:
            pipe.add_label(label)
    nlp.initialize()
    rng = np.random.default_rng(0)
    for word in sorted({t.text for w in vocabulary for t in nlp.make_doc(w)}):
        nlp.vocab.set_vector(word, rng.standard_normal(300).astype("float32"))
    return nlp


def amber(loop_items: int | None) -> None:
    data = load_amber()
    responses = synthesize_responses(data)
    generative = [r for r in responses if data.annotations[r.id].is_generative]
    print(f"## AMBER: {len(responses)} answers ({len(generative)} descriptions)")
    extractor = nltk_noun_extractor()
    nouns = {r.response: extractor(r.response) for r in generative}

    table = TableSimilarity(pseudo_table(sorted(data.vocabulary)), source="pseudo")
    _compare("table", responses, data, nouns.__getitem__, table, table.similarity, print)
    start = time.perf_counter()
    score_amber(responses, data, similarity=table, nouns=nltk_noun_extractor(), progress=False)
    print(f"[ours, end to end] all 15,220 ids incl. NLTK tokenise/tag/lemmatise: {time.perf_counter() - start:.2f} s "
          "(target < 5 s)")
    try:
        nlp = spacy_pipeline(sorted(data.vocabulary))
    except ImportError:
        print("[spacy-pipeline] skipped: spaCy is not installed (pip install spacy)")
        return
    subset = responses
    if loop_items:
        keep = {r.id for r in generative[:loop_items]}
        subset = [r for r in responses if r.id in keep or not data.annotations[r.id].is_generative]
        print(f"[spacy-pipeline] per-pair loop limited to the first {loop_items} descriptions (+ all yes/no)")

    def official_call(word1: str, word2: str) -> float:  # check_synonyms_word, minus the threshold
        return nlp(word1).similarity(nlp(word2))

    _compare("spacy-pipeline", subset, data, nouns.__getitem__,
             SpacySimilarity(model="lg-layout-random", nlp=nlp), official_call, print)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-items", type=int, default=None, help="descriptions in the spaCy per-pair loop")
    parser.add_argument("--repeats", type=int, default=3, help="CHAIR runs per side")
    parser.add_argument("--skip-chair", action="store_true")
    args = parser.parse_args(argv)
    amber(args.loop_items)
    if not args.skip_chair:
        print("\n## CHAIR: 500 OPERA LLaVA-1.5 captions, end to end")
        bench_chair.run(repeats=args.repeats)


if __name__ == "__main__":
    main()
