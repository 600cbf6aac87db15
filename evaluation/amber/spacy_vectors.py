"""``nlp(w1).similarity(nlp(w2))`` from a spaCy model's files alone: no pipeline run, no ``import spacy``.

The official AMBER near-synonym step (``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939,
``inference.py`` ``check_synonyms_word``) runs the whole pipeline twice per word pair, but only the word
vectors enter the value. What spaCy 3.8.18 computes (``spacy/tokens/doc.pyx`` ``Doc.similarity`` /
``vector`` / ``vector_norm``, ``spacy/vocab.pyx`` ``get_vector``, ``spacy/vectors.pyx``), step by step:

1. the tokens of each text (:mod:`evaluation.amber.spacy_tokenizer`, from the model's ``tokenizer`` file);
2. equal token sequences give 1.0 before any vector is read (so "dog"/"dog" and ""/"" are 1.0);
3. a token's vector is row ``key2row[orth]`` of ``vocab/vectors``, zeros when its key has no row (an
   out-of-vocabulary word). ``orth`` is spaCy's symbol id for its ~450 symbol strings ("ADJ", "root",
   "mark", ...), else MurmurHash64A of the UTF-8 text with seed 1 (spaCy's ``hash_string``);
4. a doc's vector is ``sum(token vectors) / n_tokens`` in float32; its norm is the square root of the float32
   squares summed in double precision, in order (the Cython loop);
5. a zero norm on either side gives 0.0 (spaCy warns W008; the official script ignores UserWarning);
6. otherwise ``numpy.dot(v1, v2) / (norm1 * norm2)``: the same numpy expression on the same arrays, so the
   same float32 rounding (which depends on the numpy version: NEP 50 since numpy 2, hence ``versions``).

Read directly only when nothing else in the pipeline can change those steps (:func:`direct_read_problem`);
otherwise, and for a text whose tokens spaCy's special-case matcher would re-split, spaCy itself is used.
``tests/test_amber_spacy_vectors.py`` checks every pair of the AMBER vocabulary against the real pipeline.
"""

from __future__ import annotations

import importlib.util
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# vocab/vectors.cfg: only the default mode (one row per key) keyed by ORTH (attr id 65) is read directly.
VECTORS_MODE = "default"
ORTH_ATTR = 65
TOKENIZER_FACTORY = "spacy.Tokenizer.v1"
# Components that never change token texts, vectors or the similarity hooks.
PLAIN_FACTORIES = frozenset({"tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "ner",
                             "morphologizer", "entity_ruler", "trainable_lemmatizer"})
# MurmurHash64A (murmurhash's hash64, what spaCy's StringStore uses), with spaCy's seed.
_MURMUR_M = 0xC6A4A7935BD1E995
_MURMUR_R = 47
_MASK64 = (1 << 64) - 1
SPACY_HASH_SEED = 1


def murmurhash64a(data: bytes, seed: int = SPACY_HASH_SEED) -> int:
    """MurmurHash64A (Austin Appleby's MurmurHash2 x64, little-endian), as spaCy hashes strings."""
    h = (seed ^ (len(data) * _MURMUR_M)) & _MASK64
    body = len(data) - len(data) % 8
    for (k,) in struct.iter_unpack("<Q", data[:body]):
        k = (k * _MURMUR_M) & _MASK64
        k ^= k >> _MURMUR_R
        k = (k * _MURMUR_M) & _MASK64
        h = ((h ^ k) * _MURMUR_M) & _MASK64
    if len(data) > body:
        h = ((h ^ int.from_bytes(data[body:], "little")) * _MURMUR_M) & _MASK64
    h ^= h >> _MURMUR_R
    h = (h * _MURMUR_M) & _MASK64
    return h ^ (h >> _MURMUR_R)


def spacy_symbols() -> dict[str, int]:
    """spaCy's ``symbols.IDS`` (string -> id), read from the installed ``spacy/symbols.pxd`` without importing
    spaCy: the ``symbol_t`` enum in order, ``NIL`` spelled "" (tests compare it with ``spacy.symbols``)."""
    spec = importlib.util.find_spec("spacy")
    locations = list(spec.submodule_search_locations or []) if spec else []
    pxd = Path(locations[0]) / "symbols.pxd" if locations else None
    if pxd is None or not pxd.is_file():
        from spacy.symbols import IDS  # slower (imports spaCy), same table

        return dict(IDS)
    body = pxd.read_text(encoding="utf-8").split("cdef enum symbol_t:", 1)[1]
    ids: dict[str, int] = {}
    value = 0
    for name, explicit in re.findall(r"^[ \t]+(\w+)(?:[ \t]*=[ \t]*(\d+))?[ \t]*(?:#.*)?$", body, re.M):
        value = int(explicit) if explicit else value
        ids["" if name == "NIL" else name] = value
        value += 1
    return ids


def _config_factories(config: str) -> tuple[set[str], str | None]:
    factories = set(re.findall(r'^factory\s*=\s*"([^"]+)"', config, re.M))
    tokenizer = re.search(r'^\[nlp\.tokenizer\]\s*\n@tokenizers\s*=\s*"([^"]+)"', config, re.M)
    return factories, tokenizer.group(1) if tokenizer else None


def direct_read_problem(model_dir: Path, vectors_cfg: dict[str, Any], meta: dict[str, Any]) -> str | None:
    """Why this model's similarity cannot be read from its files (None when it can)."""
    if vectors_cfg.get("mode", VECTORS_MODE) != VECTORS_MODE:
        return f"vectors mode {vectors_cfg.get('mode')!r}"
    if vectors_cfg.get("attr", ORTH_ATTR) != ORTH_ATTR:
        return f"vectors keyed by attribute {vectors_cfg.get('attr')!r}, not ORTH"
    if meta.get("lang") != "en":  # English has no default token_match, so the tokenizer file is complete
        return f"language {meta.get('lang')!r}"
    factories, tokenizer = _config_factories((model_dir / "config.cfg").read_text(encoding="utf-8"))
    if tokenizer != TOKENIZER_FACTORY:
        return f"tokenizer {tokenizer!r}"
    if factories - PLAIN_FACTORIES:
        return f"components {sorted(factories - PLAIN_FACTORIES)}"
    return None


@dataclass(frozen=True)
class VectorDoc:
    """What ``Doc.similarity`` reads of ``nlp(text)``: token texts, ``Doc.vector`` and ``Doc.vector_norm``."""

    tokens: tuple[str, ...]
    vector: np.ndarray
    norm: float


class SpacyVectorTable:
    """``vocab/vectors`` (float32 rows) and its key -> row map (sorted ``keys`` and their ``rows``, from
    ``vocab/key2row``), looked up with spaCy's string keys."""

    def __init__(self, data: np.ndarray, keys: np.ndarray, rows: np.ndarray, symbols: dict[str, int]):
        self.data, self.keys, self.rows, self.symbols = data, keys, rows, symbols
        self._zeros = np.zeros((data.shape[1],), dtype="f")

    @classmethod
    def from_model_dir(cls, model_dir: Path, keys: np.ndarray, rows: np.ndarray) -> SpacyVectorTable:
        vectors = np.load(Path(model_dir) / "vocab" / "vectors", allow_pickle=False)
        return cls(vectors, keys, rows, spacy_symbols())

    def key(self, text: str) -> int:
        symbol = self.symbols.get(text)
        return symbol if symbol is not None else murmurhash64a(text.encode("utf-8"))

    def token_vector(self, text: str) -> np.ndarray:
        key = np.uint64(self.key(text))
        i = int(np.searchsorted(self.keys, key))
        if i < len(self.keys) and self.keys[i] == key:
            return self.data[self.rows[i]]
        return self._zeros

    def doc(self, tokens: tuple[str, ...]) -> VectorDoc:
        if not tokens:
            vector = np.zeros((self.data.shape[1],), dtype="f")
        else:
            vector = sum(self.token_vector(t) for t in tokens) / len(tokens)  # Doc.vector, same expression
        norm = 0.0
        for square in (vector * vector).tolist():  # float32 squares, summed in double, in order
            norm += square
        return VectorDoc(tokens, vector, math.sqrt(norm) if norm != 0 else 0)


def doc_similarity(doc1: VectorDoc, doc2: VectorDoc) -> float:
    """``Doc.similarity`` for two docs of the same vocabulary (no user hooks)."""
    if doc1.tokens == doc2.tokens:
        return 1.0
    if doc1.norm == 0 or doc2.norm == 0:
        return 0.0
    result = np.dot(doc1.vector, doc2.vector) / (doc1.norm * doc2.norm)
    return result.item()
