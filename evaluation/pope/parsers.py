"""How each POPE scorer turns a model's answer into yes / no (/ other): six parsers, each as its source has it.

* ``official``: ``AoiDragon/POPE`` @ f3ec604337f1d1c9723ef8d01b4accacf8badb3d ``evaluate.py`` l.9-21 (unchanged
  up to HEAD 08d957b917e5a378a2f99d35b6293c536a66298b);
* ``llava``: ``haotian-liu/LLaVA`` @ ce1aa08d129bd7df931a7067bcb79cf3cb3a1af5 ``llava/eval/eval_pope.py``
  l.8-20: the official rule applied to the answer's ``text`` field;
* ``lmms-eval``: ``EvolvingLMMs-Lab/lmms-eval`` @ 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
  ``lmms_eval/tasks/pope/utils.py`` ``pope_process_results``;
* ``vlmevalkit``: ``open-compass/VLMEvalKit`` @ e8e78f05f3080fe28154f2130321f17951c3be94
  ``vlmeval/dataset/utils/yorn.py`` ``YOrN_Extraction`` + ``vlmeval/smp/misc.py`` ``process_punctuation``, with
  ``exact_matching`` (no LLM judge for Unknown answers);
* ``vcd``: ``DAMO-NLP-SG/VCD`` @ d6568ff81b8fd306a49e630df44f2db5c2300191 ``experiments/eval/eval_pope.py`` l.30-50;
* ``opera``: ``shikiw/OPERA`` @ 61426efe4e2e53207f32d9112a86ba5f8364d1d9 ``pope_eval.py`` ``recorder``.

``parse_answer`` returns ``"yes"``, ``"no"`` or ``"other"`` (lmms-eval's non-matching answers, VLMEvalKit's
Unknown). VCD's rule depends on the label, so for it the label is an argument and the result is the class VCD
counts the answer as. Every quirk is a named constant below, with the line it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from uedpo.errors import InputError

YES, NO, OTHER = "yes", "no", "other"
PARSERS = ("official", "llava", "lmms-eval", "vlmevalkit", "vcd", "opera")

# ---- official / LLaVA (evaluate.py l.13-19)
# "Only keep the first sentence": everything from the first '.' on is dropped, even inside a number
# ("Yes, about 2.5 m" -> "Yes about 2"); an answer starting with '.' keeps nothing and reads as yes.
OFFICIAL_SENTENCE_END = "."
OFFICIAL_DELETED = ","  # text.replace(',', ''): "No,there is none" becomes one word "Nothere"
# text.split(' '): one space only, so "No\n", "No!" or a tab-separated "No" are not the word "No".
OFFICIAL_WORD_SEPARATOR = " "
# Case-sensitive: "NO" and "Not" are not negative words, so they read as yes (the default).
OFFICIAL_NEGATIVE_WORDS = frozenset({"No", "not", "no"})

# ---- lmms-eval (pope_process_results: pred = results[0].lower().strip(); score = pred == gt)
LMMS_EVAL_ANSWERS = (YES, NO)  # anything else ("yes.", "yes, there is") matches neither label

# ---- VLMEvalKit (misc.py process_punctuation, yorn.py YOrN_Extraction)
VLMEVALKIT_PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
                          ",", "?", "!")
VLMEVALKIT_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
VLMEVALKIT_PERIOD_STRIP = re.compile(r"(?<!\d)\.(?!\d)")
# misc.py:32 `periodStrip.sub('', outText, re.UNICODE)` passes the flag as `count`: at most 32 periods go.
VLMEVALKIT_PERIOD_STRIP_COUNT = int(re.UNICODE)

# ---- VCD (eval_pope.py l.33-50: substring tests on ans.lower().strip(), chosen by the label)
VCD_YES_SUBSTRING = "yes"  # also inside "eyes"
VCD_NO_SUBSTRING = "no"  # also inside "know", "snow", "not", "none", "nothing", "cannot"

# ---- OPERA (pope_eval.py recorder): no first-sentence cut; '.' and ',' deleted everywhere
OPERA_DELETED = (".", ",")
OPERA_WORD_SEPARATOR = " "
OPERA_NEGATIVE_WORDS = frozenset({"No", "not", "no", "NO"})
OPERA_NEGATIVE_SUFFIX = "n't"  # ASCII apostrophe only: "don’t" (U+2019) is not negative


def parse_official(text: str) -> str:
    if OFFICIAL_SENTENCE_END in text:
        text = text.split(OFFICIAL_SENTENCE_END)[0]
    words = text.replace(OFFICIAL_DELETED, "").split(OFFICIAL_WORD_SEPARATOR)
    return NO if any(w in OFFICIAL_NEGATIVE_WORDS for w in words) else YES


def parse_lmms_eval(text: str) -> str:
    pred = text.lower().strip()
    return pred if pred in LMMS_EVAL_ANSWERS else OTHER


def process_punctuation(text: str) -> str:
    """VLMEvalKit's ``process_punctuation``: the presence tests look at the input, the edits accumulate."""
    out = text
    for p in VLMEVALKIT_PUNCTUATION:
        if (p + " " in text or " " + p in text) or VLMEVALKIT_COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return VLMEVALKIT_PERIOD_STRIP.sub("", out, count=VLMEVALKIT_PERIOD_STRIP_COUNT)


def parse_vlmevalkit(text: str) -> str:
    words = process_punctuation(text.lower()).split()
    if YES in words and NO not in words:
        return YES
    if YES not in words and NO in words:
        return NO
    return OTHER  # VLMEvalKit's 'Unknown'


def parse_vcd(text: str, label: str) -> str:
    ans = text.lower().strip()
    if label == YES:
        return YES if VCD_YES_SUBSTRING in ans else NO
    if label == NO:
        return NO if VCD_NO_SUBSTRING in ans else YES
    raise InputError(f"VCD's parser needs the label 'yes' or 'no', got {label!r}")


def parse_opera(text: str) -> str:
    for ch in OPERA_DELETED:
        text = text.replace(ch, "")
    words = text.split(OPERA_WORD_SEPARATOR)
    negative = any(w in OPERA_NEGATIVE_WORDS for w in words) or any(w.endswith(OPERA_NEGATIVE_SUFFIX) for w in words)
    return NO if negative else YES


_LABEL_FREE: dict[str, Callable[[str], str]] = {
    "official": parse_official,
    "llava": parse_official,  # eval_pope.py copies evaluate.py's rule; only the answer key differs (text)
    "lmms-eval": parse_lmms_eval,
    "vlmevalkit": parse_vlmevalkit,
    "opera": parse_opera,
}


def parse_answer(parser: str, text: str, label: str | None = None) -> str:
    """``"yes"``, ``"no"`` or ``"other"`` for ``text`` under ``parser`` (``label`` is used by ``vcd`` only)."""
    if parser == "vcd":
        if label is None:
            raise InputError("parser 'vcd' reads the answer differently per label; pass label='yes' or 'no'")
        return parse_vcd(text, label)
    try:
        return _LABEL_FREE[parser](text)
    except KeyError:
        raise InputError(f"unknown POPE parser {parser!r}; choose one of: {', '.join(PARSERS)}") from None


def plain_form(text: str) -> str | None:
    """``"yes"``/``"no"`` when the answer is plainly that word (after ``strip()``, one trailing ``.`` removed,
    case-folded: "Yes", "no.", " NO "), else None. Used to count how much a parser decides, never to parse."""
    word = text.strip().removesuffix(".").lower()
    return word if word in (YES, NO) else None
