"""``nltk.word_tokenize`` exactly as nltk 3.8.1 / 3.9.1 does it, whatever nltk is installed.

Why: the official CHAIR outputs (``kchaosun/THUNLP_Multimodal_Excercise`` @ 4edc444, made with the Maxlinn
``chair.py``) were produced with nltk 3.8.1, and nltk 3.9.1 tokenizes identically. Later releases changed the
word tokenizer, which changes CHAIR on real captions (SCORERS.md addendum; ENVIRONMENT.md addendum: 37 of 300
captions differ under 3.10.4, CHAIRs 24.33 -> 24.67):

* nltk >= 3.9.4 splits figure/en/em dashes and horizontal bars (U+2012..U+2015) into their own tokens ("dog—a"
  -> "dog", "—", "a");
* nltk > 3.10.0 splits a leading single quote from the word ("'the" -> "'", "the");
* nltk 3.10 also routes every regex through ``nltk.redos`` (the third-party ``regex`` engine with timeouts)
  and lets Punkt treat curly quotes and guillemets like ASCII quotes at sentence boundaries.

``LegacyWordTokenizer`` carries the regex tables of nltk 3.9.1 ``nltk/tokenize/destructive.py``
(``NLTKWordTokenizer`` and ``MacIntyreContractions``, copied from the released wheel, compiled with the stdlib
``re`` as 3.9.1 did) and its ``tokenize`` procedure. ``LegacyPunktLanguageVars`` restores the two Punkt
attributes that changed after 3.9.1 (``nltk/tokenize/punkt.py``: ``re_boundary_realignment`` and
``_re_non_word_chars``). Punkt's parameters still come from the installed ``punkt_tab`` model, as
``nltk.word_tokenize`` loads them. Known residual difference: the installed Punkt compiles its other
(unchanged) patterns with ``regex`` instead of ``re``; the two engines agree on these patterns for ordinary
text.
"""

from __future__ import annotations

import functools
import re

from nltk.tokenize.destructive import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktLanguageVars, PunktSentenceTokenizer

NLTK_REFERENCE_VERSION = "3.9.1"  # tokenizes exactly as 3.8.1, the version behind the official outputs


class LegacyWordTokenizer(NLTKWordTokenizer):
    """``NLTKWordTokenizer`` of nltk 3.9.1 (regex tables and ``tokenize`` copied from that release)."""

    # nltk 3.9.1: starting quotes. The last rule splits "'x" only before a ONE-letter word ("'n" stays whole
    # because of the lookahead); nltk > 3.10.0 splits every leading quote before a word character.
    STARTING_QUOTES = [
        (re.compile("([«“‘„]|[`]+)", re.U), r" \1 "),
        (re.compile(r"^\""), r"``"),
        (re.compile(r"(``)"), r" \1 "),
        (re.compile(r"([ \(\[{<])(\"|\'{2})"), r"\1 `` "),
        (re.compile(r"(?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b", re.U), r"\1 \2"),
    ]

    # nltk 3.9.1: ending quotes.
    ENDING_QUOTES = [
        (re.compile("([»”’])", re.U), r" \1 "),
        (re.compile(r"''"), " '' "),
        (re.compile(r'"'), " '' "),
        (re.compile(r"\s+"), " "),
        (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
        (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
    ]

    # nltk 3.9.1: punctuation. There is no rule for U+2012..U+2015 dashes (added in 3.9.4).
    PUNCTUATION = [
        (re.compile(r'([^\.])(\.)([\]\)}>"\'' "»”’ " r"]*)\s*$", re.U), r"\1 \2 \3 "),
        (re.compile(r"([:,])([^\d])"), r" \1 \2"),
        (re.compile(r"([:,])$"), r" \1 "),
        (re.compile(r"\.{2,}", re.U), r" \g<0> "),
        (re.compile(r"[;@#$%&]"), r" \g<0> "),
        (re.compile(r'([^\.])(\.)([\]\)}>"\']*)\s*$'), r"\1 \2\3 "),
        (re.compile(r"[?!]"), r" \g<0> "),
        (re.compile(r"([^'])' "), r"\1 ' "),
        (re.compile(r"[*]", re.U), r" \g<0> "),
    ]

    PARENS_BRACKETS = (re.compile(r"[\]\[\(\)\{\}\<\>]"), r" \g<0> ")
    CONVERT_PARENTHESES = [
        (re.compile(r"\("), "-LRB-"),
        (re.compile(r"\)"), "-RRB-"),
        (re.compile(r"\["), "-LSB-"),
        (re.compile(r"\]"), "-RSB-"),
        (re.compile(r"\{"), "-LCB-"),
        (re.compile(r"\}"), "-RCB-"),
    ]
    DOUBLE_DASHES = (re.compile(r"--"), r" -- ")

    # nltk 3.9.1 MacIntyreContractions (CONTRACTIONS4 is unused there too).
    CONTRACTIONS2 = [
        re.compile(p)
        for p in (
            r"(?i)\b(can)(?#X)(not)\b",
            r"(?i)\b(d)(?#X)('ye)\b",
            r"(?i)\b(gim)(?#X)(me)\b",
            r"(?i)\b(gon)(?#X)(na)\b",
            r"(?i)\b(got)(?#X)(ta)\b",
            r"(?i)\b(lem)(?#X)(me)\b",
            r"(?i)\b(more)(?#X)('n)\b",
            r"(?i)\b(wan)(?#X)(na)(?=\s)",
        )
    ]
    CONTRACTIONS3 = [re.compile(r"(?i) ('t)(?#X)(is)\b"), re.compile(r"(?i) ('t)(?#X)(was)\b")]
    # Speed only: every quote rule (all but ENDING_QUOTES' whitespace rule) needs one of these characters, and
    # no other rule adds one, so a sentence without any runs just the whitespace rule (same output).
    QUOTE_CHARS = ("'", '"', "`", "«", "“", "‘", "„", "»", "”", "’")
    ENDING_WHITESPACE_ONLY = ENDING_QUOTES[3:4]
    # Speed only: on ASCII text each contraction pattern needs one of these lower-cased substrings to match,
    # so text without any of them skips the ten regex passes (same output; non-ASCII text always runs them,
    # as (?i) also folds characters such as U+017F into ASCII letters).
    CONTRACTION_MARKERS = (
        "cannot",
        "d'ye",
        "gimme",
        "gonna",
        "gotta",
        "lemme",
        "more'n",
        "wanna",
        "'tis",
        "'twas",
    )

    def tokenize(self, text: str, convert_parentheses: bool = False, return_str: bool = False) -> list[str]:
        """The tokens of one sentence, as nltk 3.9.1 ``NLTKWordTokenizer.tokenize`` gives them."""
        # return_str: deprecated and ignored (nltk 3.9.1 also returned the token list).
        quotes = any(q in text for q in self.QUOTE_CHARS)
        if quotes:
            for regexp, substitution in self.STARTING_QUOTES:
                text = regexp.sub(substitution, text)
        for regexp, substitution in self.PUNCTUATION:
            text = regexp.sub(substitution, text)
        regexp, substitution = self.PARENS_BRACKETS
        text = regexp.sub(substitution, text)
        if convert_parentheses:
            for regexp, substitution in self.CONVERT_PARENTHESES:
                text = regexp.sub(substitution, text)
        regexp, substitution = self.DOUBLE_DASHES
        text = regexp.sub(substitution, text)
        text = " " + text + " "  # as 3.9.1: makes the ending-quote rules simpler
        for regexp, substitution in self.ENDING_QUOTES if quotes else self.ENDING_WHITESPACE_ONLY:
            text = regexp.sub(substitution, text)
        lowered = text.lower()
        if not text.isascii() or any(marker in lowered for marker in self.CONTRACTION_MARKERS):
            for regexp in self.CONTRACTIONS2:
                text = regexp.sub(r" \1 \2 ", text)
            for regexp in self.CONTRACTIONS3:
                text = regexp.sub(r" \1 \2 ", text)
        return text.split()


class LegacyPunktLanguageVars(PunktLanguageVars):
    """Punkt language variables as in nltk 3.9.1: the two attributes later releases changed, and the two
    tokenizing patterns compiled with the stdlib ``re`` as 3.9.1 did."""

    # nltk 3.9.1: curly quotes and guillemets are NOT realigned onto the previous sentence.
    re_boundary_realignment = re.compile(r'["\')\]}]+?(?:\s+|(?=--)|$)', re.MULTILINE)

    def _word_tokenizer_re(self) -> re.Pattern:
        # nltk 3.9.1 compiled this with the stdlib ``re`` (3.10 uses ``nltk.redos``: the ``regex`` engine).
        if self._legacy_word_re is None:
            self._legacy_word_re = re.compile(
                self._word_tokenize_fmt
                % {
                    "NonWord": self._re_non_word_chars,
                    "MultiChar": self._re_multi_char_punct,
                    "WordStart": self._re_word_start,
                },
                re.UNICODE | re.VERBOSE,
            )
        return self._legacy_word_re

    def period_context_re(self) -> re.Pattern:
        # As above: nltk 3.9.1's stdlib-``re`` version.
        if self._legacy_period_re is None:
            self._legacy_period_re = re.compile(
                self._period_context_fmt
                % {"NonWord": self._re_non_word_chars, "SentEndChars": self._re_sent_end_chars},
                re.UNICODE | re.VERBOSE,
            )
        return self._legacy_period_re

    _legacy_word_re: re.Pattern | None = None
    _legacy_period_re: re.Pattern | None = None

    @property
    def _re_non_word_chars(self) -> str:
        # nltk 3.9.1: no curly quotes / guillemets in the non-word character class.
        other_sentence_ends = re.escape("".join(set(self.sent_end_chars) - {"."}))
        return r"(?:[)\";}\]\*:@\'\({\[" + other_sentence_ends + "])"


@functools.lru_cache(maxsize=4)
def legacy_sentence_tokenizer(language: str = "english") -> PunktSentenceTokenizer:
    """Punkt with the installed ``punkt_tab`` parameters and the nltk 3.9.1 language variables.

    Raises ``LookupError`` (NLTK's) when ``tokenizers/punkt_tab/<language>/`` is not installed.
    """
    from nltk.data import find
    from nltk.tokenize.punkt import load_punkt_params

    params = load_punkt_params(find(f"tokenizers/punkt_tab/{language}/"))
    return PunktSentenceTokenizer(params, lang_vars=LegacyPunktLanguageVars())


_WORD_TOKENIZER = LegacyWordTokenizer()


def legacy_word_tokenize(text: str, language: str = "english") -> list[str]:
    """``nltk.word_tokenize(text)`` as in nltk 3.9.1: Punkt sentences, then the 3.9.1 word tokenizer."""
    sentences = legacy_sentence_tokenizer(language).tokenize(text)
    return [token for sentence in sentences for token in _WORD_TOKENIZER.tokenize(sentence)]
