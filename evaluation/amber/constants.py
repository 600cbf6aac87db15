"""Every numeric and string quirk of the official AMBER scorer, named.

Source: ``junyangwang0410/AMBER`` @ 534babf6bbfcce2e735c26289dedfb21cef3c939, ``inference.py`` and
``data/metrics.txt`` (Apache-2.0). Line references are to that ``inference.py``. Changing any of these
changes the printed numbers; a "clean" behaviour belongs behind an explicit, named flag instead.
"""

from __future__ import annotations

from benchmarks_data.amber_types import GENERATIVE_TYPE, TRUTH_NO, TRUTH_YES  # noqa: F401 (re-exported)

# data/metrics.txt seeds every `*_num` counter with 0.001 (and every `*_score` with 0), so an empty bucket
# prints 0.0 instead of raising, and e.g. Hal = 100 - nh / (N + 0.001) * 100. The seed is added ONCE per run
# (lmms-eval's port re-seeds per item and drifts; we do not).
DENOMINATOR_SEED = 0.001
SCORE_SEED = 0

# `round(x, 1)` on every printed value.
ROUND_DIGITS = 1

# `check_synonyms_word`: `nlp(w1).similarity(nlp(w2)) > similarity_score`, default 0.8, STRICT `>`.
SIMILARITY_THRESHOLD = 0.8
# The official model; lmms-eval silently prefers en_core_web_md, which changes the decisions.
SPACY_MODEL = "en_core_web_lg"

# `extract_nouns`: keep tokens whose Penn tag starts with "NN" (NN, NNS, NNP, NNPS).
NOUN_TAG_PREFIX = "NN"

# Discriminative answers are compared with `==`: exact, case-sensitive, no stripping.
ANSWER_YES = "Yes"
ANSWER_NO = "No"
# Truth labels in annotations.json are lower case: TRUTH_YES / TRUTH_NO (and GENERATIVE_TYPE) are the data
# format, named with the record types in benchmarks_data.amber_types and re-exported here.
# P/R/F1 treat "No" as the positive class: Precision = (answered No and truth no) / answered No,
# Recall = (answered No and truth no) / truth no.

# F1 = 2PR/(P+R+eps) on the ALREADY ROUNDED P and R (divided by 100); eps is 0.0001 everywhere
# except existence ("hallucination_F1"), where the official code writes 0.001.
F1_EPSILON = 0.0001
EXISTENCE_F1_EPSILON = 0.001

# Discriminative bucket of each annotation type. The official if-chain sends every type it does not name
# (both "discriminative-relation" and "relation") to the relation ("asso") counters.
STATE, NUMBER, ACTION, EXISTENCE, RELATION = "state", "number", "action", "existence", "relation"
TYPE_TO_BUCKET: dict[str, str] = {
    "discriminative-attribute-state": STATE,
    "discriminative-attribute-number": NUMBER,
    "discriminative-attribute-action": ACTION,
    "discriminative-hallucination": EXISTENCE,
}
FALLBACK_BUCKET = RELATION


def bucket_of(annotation_type: str) -> str:
    """The discriminative bucket (``state``/``number``/``action``/``existence``/``relation``) of a type."""
    return TYPE_TO_BUCKET.get(annotation_type, FALLBACK_BUCKET)
# The attribute section pools the three sub-buckets by ADDING their counters, seeds included, so its
# denominators start at 3 * 0.001 (`as_..._num + an_..._num + aa_..._num`).
ATTRIBUTE_SUB_BUCKETS: tuple[str, ...] = (STATE, NUMBER, ACTION)

# Result sections, in the order the official script prints them.
GENERATIVE_SECTION = "generative"
POOLED_SECTION = "discriminative"
ATTRIBUTE_SECTION = "attribute"
SECTION_ORDER: tuple[str, ...] = (
    GENERATIVE_SECTION,
    POOLED_SECTION,
    EXISTENCE,
    ATTRIBUTE_SECTION,
    STATE,
    NUMBER,
    ACTION,
    RELATION,
)

# Variant names written into results.
VARIANT_OFFICIAL = "official"
VARIANT_NORMALIZED_ANSWERS = "normalized-answers"
