"""The two spaCy similarity backends: the real pipeline call, and the same values from the model's vectors.

Official step (``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py``
``check_synonyms_word``): ``nlp(w1).similarity(nlp(w2))`` with ``nlp = spacy.load("en_core_web_lg")``.

* :class:`SpacyVectorsSimilarity` (``--similarity spacy[:MODEL]``, the default): reads ``vocab/vectors``,
  ``vocab/key2row`` and ``tokenizer`` of the model folder and computes ``Doc.similarity`` as spaCy does
  (:mod:`evaluation.amber.spacy_vectors`). It never imports spaCy for the AMBER vocabulary, so scoring starts
  in a fraction of a second instead of about 4 s (import + pipeline load). Identical floats to the pipeline
  for every pair of the 418 AMBER words, hyphenated and out-of-vocabulary words included
  (``tests/test_amber_spacy_vectors.py``). A model it cannot read exactly is run as the pipeline instead.
* :class:`SpacySimilarity` (``--similarity spacy-pipeline[:MODEL]``): the pipeline itself, one run per word.

Both are named ``spacy:MODEL`` in results (same numbers); ``versions["spacy_similarity"]`` says which ran.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from evaluation.amber.constants import SPACY_MODEL
from evaluation.amber.similarity import SimilarityBackendError
from evaluation.amber.spacy_model import model_label, model_meta, not_found_message, resolve_model_dir

VECTORS_IMPLEMENTATION = "vectors read from the model files (== nlp(w1).similarity(nlp(w2)), tested)"
PIPELINE_IMPLEMENTATION = "pipeline: nlp(w1).similarity(nlp(w2))"


def _installed(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _install_fix(model: str) -> str:
    return (
        f"`pip install spacy` and `python -m spacy download {model}` (the official AMBER numbers need "
        "en_core_web_lg), or choose the similarity backend `exact` or `table:PATH` (numbers then differ "
        "from the official ones)"
    )


def _load_spacy_model(model: str) -> Any:
    try:
        import spacy
    except ImportError:
        raise SimilarityBackendError(
            f"AMBER similarity backend spacy:{model} needs spaCy, which is not installed; run "
            f"{_install_fix(model)}"
        ) from None
    folder = resolve_model_dir(model)
    try:
        return spacy.load(str(folder) if folder else model)
    except OSError:
        raise SimilarityBackendError(
            f"spaCy model {model!r} is not installed; run {_install_fix(model)}"
        ) from None


class SpacySimilarity:
    """``nlp(w1).similarity(nlp(w2))`` with a spaCy pipeline (default en_core_web_lg; a name or a folder).

    ``nlp`` may be given directly (any callable returning objects with ``.similarity``); otherwise the model
    is loaded on :meth:`prepare` or first use. Each word is run through the pipeline once and its doc reused:
    ``Doc.similarity`` depends only on the two docs, so the values equal the official per-call ones.
    """

    def __init__(self, model: str = SPACY_MODEL, nlp: Callable[[str], Any] | None = None):
        self.model = model
        self.name = f"spacy:{model}"
        self._nlp = nlp
        self._docs: dict[str, Any] = {}

    def prepare(self) -> None:
        if self._nlp is None:
            self._nlp = _load_spacy_model(self.model)

    @property
    def pipeline_runs(self) -> int:
        """Pipeline runs so far: one per distinct word (the official code runs it twice per pair)."""
        return len(self._docs)

    def versions(self) -> dict[str, str]:
        """spaCy and model versions for the results file (similarities depend on the model's vectors)."""
        meta = getattr(self._nlp, "meta", None) or {}
        found = {"spacy_model": model_label(meta, self.model), "spacy_similarity": PIPELINE_IMPLEMENTATION}
        spacy = sys.modules.get("spacy")
        if spacy is not None and hasattr(spacy, "__version__"):
            found["spacy"] = spacy.__version__
        return found

    def similarity(self, word1: str, word2: str) -> float:
        self.prepare()
        with warnings.catch_warnings():
            # The official script ignores UserWarning globally (spaCy's W008 for words without a vector).
            warnings.simplefilter("ignore", UserWarning)
            return float(self._doc(word1).similarity(self._doc(word2)))

    def _doc(self, word: str) -> Any:
        doc = self._docs.get(word)
        if doc is None:
            doc = self._docs[word] = self._nlp(word)
        return doc


class SpacyVectorsSimilarity:
    """The official values without the pipeline; see the module docstring. ``fallback`` says why a model is
    run as the pipeline instead (None when its files are read directly)."""

    def __init__(self, model: str = SPACY_MODEL):
        self.model = model
        self.name = f"spacy:{model}"
        self.fallback: str | None = None
        self.spacy_tokenized = 0  # texts whose tokens needed spaCy's own tokenizer
        self._table: Any = None
        self._tokenizer: Any = None
        self._pipeline: SpacySimilarity | None = None
        self._spacy_nlp: Any = None
        self._docs: dict[str, Any] = {}
        self._dir: Path | None = None
        self._meta: dict[str, Any] = {}

    def prepare(self) -> None:
        if self._table is not None or self._pipeline is not None:
            return
        folder = resolve_model_dir(self.model)
        if folder is None:
            raise SimilarityBackendError(not_found_message(self.model))
        if importlib.util.find_spec("spacy") is None:  # its symbol table and msgpack reader are used
            raise SimilarityBackendError(
                f"AMBER similarity backend spacy:{self.model} needs spaCy, which is not installed; run "
                f"{_install_fix(self.model)}"
            )
        from evaluation.amber.spacy_cache import load_model_index
        from evaluation.amber.spacy_tokenizer import SpacyTokenizer
        from evaluation.amber.spacy_vectors import SpacyVectorTable

        self._dir, self._meta = folder, model_meta(folder)
        keys, rows, tokenizer = load_model_index(folder)
        self.fallback = self._direct_read_problem(folder, tokenizer)
        if self.fallback is not None:
            self._pipeline = SpacySimilarity(str(folder))
            self._pipeline.prepare()
            return
        self._tokenizer = SpacyTokenizer.from_data(tokenizer)
        self._table = SpacyVectorTable.from_model_dir(folder, keys, rows)

    def _direct_read_problem(self, folder: Path, tokenizer: dict[str, Any]) -> str | None:
        from evaluation.amber.spacy_tokenizer import PATTERN_FIELDS
        from evaluation.amber.spacy_vectors import direct_read_problem

        cfg_path = folder / "vocab" / "vectors.cfg"
        cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
        problem = direct_read_problem(folder, cfg, self._meta)
        if problem is None and not self._meta.get("vectors", {}).get("width"):
            problem = "no word vectors (spaCy then averages the tok2vec tensor)"
        # English's default token_match is None, so only these four must be in the file.
        missing = [name for name in PATTERN_FIELDS
                   if name != "token_match" and not isinstance(tokenizer.get(name), str)]
        if problem is None and (missing or "specials" not in tokenizer):
            absent = ", ".join(missing) or "special cases"
            problem = f"tokenizer file without {absent} (language defaults apply)"
        return problem

    def versions(self) -> dict[str, str]:
        """The model (its vectors give the numbers), spaCy, numpy (float32 rounding), the implementation."""
        if self._pipeline is not None:
            implementation = f"{PIPELINE_IMPLEMENTATION} ({self.fallback})"
            return {**self._pipeline.versions(), "spacy_similarity": implementation}
        found = {"spacy_model": model_label(self._meta, self.model),
                 "spacy_similarity": VECTORS_IMPLEMENTATION}
        for package in ("spacy", "numpy"):
            version = _installed(package)
            if version:
                found[package] = version
        return found

    def similarity(self, word1: str, word2: str) -> float:
        self.prepare()
        if self._pipeline is not None:
            return self._pipeline.similarity(word1, word2)
        from evaluation.amber.spacy_vectors import doc_similarity

        return doc_similarity(self._doc(word1), self._doc(word2))

    def _doc(self, text: str) -> Any:
        doc = self._docs.get(text)
        if doc is None:
            tokens = self._tokenizer(text)
            if tokens is None:  # a special case spaCy's matcher re-splits: ask spaCy's tokenizer
                tokens = self._spacy_tokens(text)
            doc = self._docs[text] = self._table.doc(tokens)
        return doc

    def _spacy_tokens(self, text: str) -> tuple[str, ...]:
        if self._spacy_nlp is None:
            import spacy

            components = self._meta.get("components", self._meta.get("pipeline", []))
            self._spacy_nlp = spacy.load(str(self._dir), exclude=list(components))
        self.spacy_tokenized += 1
        return tuple(token.text for token in self._spacy_nlp.make_doc(text))
