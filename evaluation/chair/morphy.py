"""``WordNetLemmatizer().lemmatize(word, pos)`` without building NLTK's full WordNet reader.

Why: ``nltk.corpus.wordnet`` parses every index file, ``index.sense`` (a version map) and the satellite
offsets on first use, about 3 s here, although lemmatisation only asks "is this form a lemma of this part of
speech?". This module reads just the four ``index.<pos>`` lemma columns and the four ``<pos>.exc`` exception
lists (about 0.1 s) and runs the same algorithm as nltk >= 3.9 (``nltk/corpus/reader/wordnet.py``
``WordNetCorpusReader._morphy`` + ``MORPHOLOGICAL_SUBSTITUTIONS``, ``nltk/stem/wordnet.py`` ``lemmatize``):

1. if the form is in the exception list of ``pos``, the candidates are its listed base forms; otherwise the
   candidates are the form with each matching suffix substitution applied once;
2. keep ``[form] + candidates`` that are lemmas of ``pos`` in WordNet (order kept, duplicates dropped);
3. ``lemmatize`` returns the shortest survivor (the first on ties), else the form unchanged.

nltk 3.9.1 and 3.10.x share this algorithm (checked in both wheels); with it the official outputs, made with
nltk 3.8.1, are reproduced exactly (``test_chair_parity.py``). ``test_chair_nlp.py`` checks this class against
``nltk.stem.WordNetLemmatizer`` on every token of the validation captions, for all four parts of speech.
"""

from __future__ import annotations

import re

NOUN, VERB, ADJ, ADV = "n", "v", "a", "r"

# nltk/corpus/reader/wordnet.py: WordNetCorpusReader._FILEMAP.
WORDNET_FILES: dict[str, str] = {ADJ: "adj", ADV: "adv", NOUN: "noun", VERB: "verb"}

# nltk/corpus/reader/wordnet.py: WordNetCorpusReader.MORPHOLOGICAL_SUBSTITUTIONS (same in 3.8.1..3.10.4).
MORPHOLOGICAL_SUBSTITUTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    NOUN: (
        ("s", ""),
        ("ses", "s"),
        ("ves", "f"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
    ),
    VERB: (
        ("s", ""),
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
    ),
    ADJ: (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    ADV: (),
}


# An index line: "lemma pos n_synsets ...". Header lines start with a space and never match.
_INDEX_ENTRY = re.compile(r"^(\S+) ([nvar]) ", re.MULTILINE)


class WordNetMorphy:
    """WordNet lemma sets and exception lists, and nltk's ``_morphy`` / ``lemmatize`` on them."""

    def __init__(self, lemmas: dict[str, frozenset[str]], exceptions: dict[str, dict[str, list[str]]]):
        self._lemmas = lemmas
        self._exceptions = exceptions
        self._cache: dict[tuple[str, str], str] = {}

    @classmethod
    def from_files(cls, index_texts: dict[str, str], exc_texts: dict[str, str]) -> WordNetMorphy:
        """Build from the texts of ``index.<pos>`` and ``<pos>.exc``, keyed by the WordNet pos letter.

        As nltk: lines starting with a space (the licence header) are skipped, and a lemma belongs to the
        part of speech written in its line's second field; in an exception list a later line wins.
        """
        lemmas: dict[str, set[str]] = {pos: set() for pos in WORDNET_FILES}
        for text in index_texts.values():
            for lemma, pos in _INDEX_ENTRY.findall(text):
                lemmas[pos].add(lemma)
        exceptions: dict[str, dict[str, list[str]]] = {}
        for pos, text in exc_texts.items():
            table: dict[str, list[str]] = {}
            for line in text.splitlines():
                terms = line.split()
                if terms:
                    table[terms[0]] = terms[1:]
            exceptions[pos] = table
        return cls({pos: frozenset(words) for pos, words in lemmas.items()}, exceptions)

    @classmethod
    def from_nltk_data(cls) -> WordNetMorphy:
        """Read ``corpora/wordnet`` via ``nltk.data`` (a folder or NLTK's zip); ``LookupError`` if absent."""
        from nltk.data import find

        root = find("corpora/wordnet")
        index_texts, exc_texts = {}, {}
        for pos, suffix in WORDNET_FILES.items():
            index_texts[pos] = _read_text(root.join(f"index.{suffix}"))
            exc_texts[pos] = _read_text(root.join(f"{suffix}.exc"))
        return cls.from_files(index_texts, exc_texts)

    def morphy(self, form: str, pos: str) -> list[str]:
        """All WordNet lemmas of ``form`` as ``pos`` (nltk ``WordNetCorpusReader._morphy``)."""
        exceptions = self._exceptions[pos]
        if form in exceptions:
            candidates = exceptions[form]
        else:
            candidates = [
                form[: -len(old)] + new for old, new in MORPHOLOGICAL_SUBSTITUTIONS[pos] if form.endswith(old)
            ]
        known = self._lemmas[pos]
        result: list[str] = []
        for candidate in [form, *candidates]:
            if candidate in known and candidate not in result:
                result.append(candidate)
        return result

    def lemmatize(self, word: str, pos: str = NOUN) -> str:
        """nltk ``WordNetLemmatizer.lemmatize``: the shortest lemma (first on ties), else ``word``."""
        key = (word, pos)
        cached = self._cache.get(key)
        if cached is None:
            lemmas = self.morphy(word, pos)
            cached = min(lemmas, key=len) if lemmas else word
            self._cache[key] = cached
        return cached


def _read_text(pointer) -> str:
    with pointer.open(encoding="utf-8") as fh:
        return fh.read()
