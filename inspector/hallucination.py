"""Link scorer-flagged words (AMBER / CHAIR ``hallucinated``) to the response tokens they came from.

Matching rule (case-insensitive):

* A flagged word w matches a **span of consecutive tokens** whose stripped, lower-cased texts concatenate to w
  (spaces in w removed, so ``"teddy bear"`` matches ``teddy`` + `` bear``) or to a plural of w: w+"s", w+"es",
  y→"ies", f/fe→"ves", man→"men". The scorers report lemmas ("dog") for plural mentions ("dogs"), hence the
  plurals. A one-token word is the special case of a one-token span; a word split into sub-word pieces
  (``surf`` + ``board``) is a span of pieces, each a prefix of what remains of the word.
* The span must start and end at word boundaries: the token before the span ends with whitespace or
  punctuation (or there is none) and the token after it starts with whitespace or punctuation (or there is
  none), so ``cat`` does not match inside ``concatenate``.
* Every occurrence is matched, and every token of a span is marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IRREGULAR_PLURAL_SUFFIXES = (("man", "men"), ("fe", "ves"), ("f", "ves"), ("y", "ies"))


@dataclass(frozen=True)
class WordMatch:
    word: str
    tokens: tuple[int, ...]  # token indices of one occurrence, in order


def surface_forms(word: str) -> set[str]:
    """``word`` (lower-cased, spaces removed) and its plural spellings."""
    base = "".join(word.lower().split())
    if not base:
        return set()
    forms = {base, base + "s", base + "es"}
    for singular, plural in IRREGULAR_PLURAL_SUFFIXES:
        if base.endswith(singular):
            forms.add(base[: -len(singular)] + plural)
    return forms


def _starts_word(tokens: Sequence[str], i: int) -> bool:
    if i == 0:
        return True
    prev = tokens[i - 1]
    return not prev or not prev[-1].isalnum() or not tokens[i][:1].isalnum()


def _ends_word(tokens: Sequence[str], j: int) -> bool:
    if j == len(tokens) - 1:
        return True
    nxt = tokens[j + 1]
    return not nxt or not nxt[0].isalnum() or not tokens[j][-1:].isalnum()


def match_words(tokens: Sequence[str], words: Sequence[str]) -> list[WordMatch]:
    """Every occurrence of every flagged word among ``tokens`` (display strings concatenating to the text)."""
    pieces = [t.strip().lower() for t in tokens]
    matches: list[WordMatch] = []
    for word in dict.fromkeys(
        words
    ):  # a word listed twice (two mentions) is matched once, at every occurrence
        forms = surface_forms(word)
        longest = max((len(f) for f in forms), default=0)
        for start in range(len(tokens)):
            if not pieces[start] or not _starts_word(tokens, start):
                continue
            joined = ""
            for end in range(start, len(tokens)):
                joined += pieces[end]
                if len(joined) > longest or not any(f.startswith(joined) for f in forms):
                    break
                if joined in forms and _ends_word(tokens, end):
                    matches.append(WordMatch(word=word, tokens=tuple(range(start, end + 1))))
                    break
    return matches


def flagged_tokens(matches: Sequence[WordMatch]) -> dict[int, str]:
    """Token index → the flagged word it belongs to."""
    return {i: m.word for m in matches for i in m.tokens}
