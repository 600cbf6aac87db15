"""spaCy 3.8's ``Tokenizer``, transcribed, reading a model's serialized ``tokenizer`` file (no spaCy import).

AMBER calls ``nlp(word)`` on its vocabulary words (``junyangwang0410/AMBER`` @
534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py`` ``check_synonyms_word``); spaCy splits e.g.
"air-conditioning" into "air", "-", "conditioning" and averages their vectors. This module gives the same
token texts as ``spacy/tokenizer.pyx`` (spaCy 3.8.18): ``_tokenize_affixes`` (whitespace), ``_split_affixes``
(prefixes/suffixes, special cases), ``_attach_tokens`` (special cases, token/URL match, infixes), with the
model's own patterns compiled by the stdlib ``re`` exactly as ``Tokenizer.from_bytes`` does.

Not transcribed: ``_apply_special_cases``, the phrase matcher that re-splits special cases spanning several
tokens (emoticons such as ":-)"). When such a pattern occurs in the tokens, :meth:`SpacyTokenizer.__call__`
returns None and the caller must use spaCy itself; otherwise the tokens are spaCy's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# spacy.attrs.ORTH: the key of a token's text in the serialized special cases ("exceptions").
ORTH = 65
# Serialized pattern fields and the `re` method spaCy binds for each (Tokenizer.from_bytes).
PATTERN_FIELDS = {
    "prefix_search": "search",
    "suffix_search": "search",
    "infix_finditer": "finditer",
    "token_match": "match",
    "url_match": "match",
}


@dataclass
class SpacyTokenizer:
    """Token texts as spaCy's tokenizer gives them; see the module docstring."""

    prefix_search: Callable[[str], Any] | None
    suffix_search: Callable[[str], Any] | None
    infix_finditer: Callable[[str], Any] | None
    token_match: Callable[[str], Any] | None
    url_match: Callable[[str], Any] | None
    specials: Mapping[str, tuple[str, ...]]
    faster_heuristics: bool = True
    _matcher: dict[str, list[tuple[str, ...]]] | None = field(default=None, repr=False)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SpacyTokenizer:
        """From a model's ``tokenizer`` file as :mod:`evaluation.amber.spacy_cache` decodes it: the pattern
        strings, ``faster_heuristics`` and ``specials`` (each special case's token texts)."""
        patterns = {
            name: getattr(re.compile(data[name]), method) if isinstance(data.get(name), str) else None
            for name, method in PATTERN_FIELDS.items()
        }
        specials = {key: tuple(texts) for key, texts in data["specials"].items()}
        return cls(**patterns, specials=specials, faster_heuristics=bool(data.get("faster_heuristics", True)))

    def __call__(self, text: str) -> tuple[str, ...] | None:
        tokens = self.tokenize_affixes(text, True)
        return None if self._special_match(tokens) else tokens

    def tokenize_affixes(self, string: str, with_special_cases: bool) -> tuple[str, ...]:
        """``Tokenizer._tokenize_affixes``: spans between whitespace; ONE space after a span is dropped."""
        tokens: list[str] = []
        if not string:
            return ()
        start = 0
        in_ws = string[0].isspace()
        for i, uc in enumerate(string):
            if uc.isspace() != in_ws:
                if start < i:
                    self._span(string[start:i], tokens, with_special_cases)
                start = i + 1 if uc == " " else i
                in_ws = not in_ws
        if start < len(string):
            self._span(string[start:], tokens, with_special_cases)
        return tuple(tokens)

    def _span(self, span: str, tokens: list[str], with_special_cases: bool) -> None:
        # _try_specials_and_cache, then _tokenize (the cache only repeats earlier results).
        if with_special_cases and span in self.specials:
            tokens.extend(self.specials[span])
            return
        prefixes: list[str] = []
        suffixes: list[str] = []
        string = self._split_affixes(span, prefixes, suffixes, with_special_cases)
        tokens.extend(prefixes)
        if string:
            self._attach(string, tokens, with_special_cases)
        tokens.extend(reversed(suffixes))

    def _find(self, search: Callable[[str], Any] | None, string: str) -> int:
        match = search(string) if search is not None else None
        return match.end() - match.start() if match is not None else 0

    def _special(self, string: str, with_special_cases: bool) -> bool:
        return with_special_cases and string in self.specials

    def _split_affixes(self, string: str, prefixes: list[str], suffixes: list[str], specials: bool) -> str:
        """``Tokenizer._split_affixes``, line for line (its quirks included: minus_suf keeps the prefix)."""
        last_size = 0
        prefix = suffix = minus_pre = minus_suf = ""
        while string and len(string) != last_size:
            if self.token_match and self.token_match(string):
                break
            if self._special(string, specials):
                break
            last_size = len(string)
            pre_len = self._find(self.prefix_search, string)
            if pre_len != 0:
                prefix, minus_pre = string[:pre_len], string[pre_len:]
                if minus_pre and self._special(minus_pre, specials):
                    prefixes.append(prefix)
                    return minus_pre
            suf_len = self._find(self.suffix_search, string[pre_len:])
            if suf_len != 0:
                suffix, minus_suf = string[-suf_len:], string[:-suf_len]
                if minus_suf and self._special(minus_suf, specials):
                    suffixes.append(suffix)
                    return minus_suf
            if pre_len and suf_len and (pre_len + suf_len) <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        return string

    def _attach(self, string: str, tokens: list[str], specials: bool) -> None:
        """The middle of ``Tokenizer._attach_tokens``: special case, token/URL match, else infix splits."""
        if self._special(string, specials):
            tokens.extend(self.specials[string])
            return
        if (self.token_match and self.token_match(string)) or (self.url_match and self.url_match(string)):
            tokens.append(string)
            return
        matches = list(self.infix_finditer(string)) if self.infix_finditer is not None else []
        start = 0
        for match in matches:
            infix_start, infix_end = match.start(), match.end()
            if infix_start == 0:  # spaCy's `start_before_infixes`: an infix at the start is not split off
                continue
            if infix_start != start:
                tokens.append(string[start:infix_start])
            if infix_start != infix_end:
                tokens.append(string[infix_start:infix_end])
            start = infix_end
        if string[start:]:
            tokens.append(string[start:])

    def _special_match(self, tokens: tuple[str, ...]) -> bool:
        """Whether a special case that spaCy's phrase matcher would re-split occurs in ``tokens``."""
        if self._matcher is None:
            self._matcher = self._build_matcher()
        for i, token in enumerate(tokens):
            for pattern in self._matcher.get(token, ()):
                if tokens[i : i + len(pattern)] == pattern:
                    return True
        return False

    def _build_matcher(self) -> dict[str, list[tuple[str, ...]]]:
        # Tokenizer.add_special_case adds these keys to the matcher. A pattern whose special-case tokens equal
        # its plain tokens re-splits nothing, so it is left out.
        by_first: dict[str, list[tuple[str, ...]]] = {}
        for key, special in self.specials.items():
            affixed = (self._find(self.prefix_search, key) or self._find(self.suffix_search, key)
                       or (self.infix_finditer is not None and any(True for _ in self.infix_finditer(key))))
            if self.faster_heuristics and not affixed and " " not in key:
                continue
            pattern = self.tokenize_affixes(key, False)
            if pattern and pattern != special:
                by_first.setdefault(pattern[0], []).append(pattern)
        return by_first
