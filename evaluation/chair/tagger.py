"""``nltk.pos_tag`` with the same answers, several times faster on caption batches.

``nltk.pos_tag(tokens)`` runs ``PerceptronTagger.tag`` (nltk ``nltk/tag/perceptron.py``): per token, a
tag-dict lookup, else ``_get_features`` and ``AveragedPerceptron.predict``, which sums, feature by feature,
the weight of every label and returns ``max(classes, key=(score, label))``. That Python loop is most of
CHAIR's tagging time.

``FastPerceptronTagger`` keeps nltk's model, tag dict and ``normalize`` and changes only how a prediction is
computed:

* predictions are memoised on everything the features read (the raw word, the five normalised context words
  and the two previous tags), so a repeated context costs one dict lookup;
* :func:`features` builds nltk's feature strings in nltk's order with plain string concatenation (the test
  ``test_chair_nlp.py`` checks them against ``_get_features``);
* the sum runs over numpy vectors, one per feature, stacked in nltk's feature order and reduced along that
  axis, so each label's score is the same sequence of IEEE additions as in nltk (adding 0.0 for a label a
  feature lacks changes nothing); ties are broken on the label as nltk does. The result is identical, not
  approximately equal: ``test_chair_nlp.py`` checks it against ``nltk.pos_tag`` on every validation caption.

The model files are read with ``json.load`` (plain JSON data, no code), which is about twice as fast as nltk's
size-checked loader.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

MODEL_RESOURCE = "taggers/averaged_perceptron_tagger_eng/"
# Bound on memoised predictions (about 200 bytes each): building a ground truth tags ~600k COCO captions.
MEMO_LIMIT = 500_000
MODEL_FILES = tuple(
    f"averaged_perceptron_tagger_eng.{part}.json" for part in ("weights", "tagdict", "classes")
)


def features(word: str, context: Sequence[str], j: int, prev: str, prev2: str) -> tuple[str, ...]:
    """nltk ``PerceptronTagger._get_features`` keys, in its order (``j`` indexes ``context``, padded with
    START/END). Each key is ``name`` + " " + arguments; no two can be equal (distinct names), so nltk's value
    for every key is 1."""
    return (
        "bias",
        "i suffix " + word[-3:],
        "i pref1 " + (word[0] if word else ""),
        "i-1 tag " + prev,
        "i-2 tag " + prev2,
        "i tag+i-2 tag " + prev + " " + prev2,
        "i word " + context[j],
        "i-1 tag+i word " + prev + " " + context[j],
        "i-1 word " + context[j - 1],
        "i-1 suffix " + context[j - 1][-3:],
        "i-2 word " + context[j - 2],
        "i+1 word " + context[j + 1],
        "i+1 suffix " + context[j + 1][-3:],
        "i+2 word " + context[j + 2],
    )


class FastPerceptronTagger:
    """Wraps a loaded ``nltk.tag.perceptron.PerceptronTagger``; ``tag`` returns the tags only."""

    def __init__(self, tagger):
        self._tagger = tagger
        self._weights = tagger.model.weights
        self._labels = sorted(tagger.model.classes)
        self._vectors: dict[str, np.ndarray | None] = {}
        self._memo: dict[tuple[str, ...], str] = {}

    @classmethod
    def from_nltk_data(cls) -> FastPerceptronTagger:
        """Load nltk's English perceptron model (``LookupError`` if its data is absent)."""
        from nltk.data import find
        from nltk.tag.perceptron import PerceptronTagger

        folder = find(MODEL_RESOURCE)
        params = []
        for name in MODEL_FILES:
            with folder.join(name).open(encoding="utf-8") as fh:
                params.append(json.load(fh))
        weights, tagdict, classes = params
        tagger = PerceptronTagger(load=False)
        # As PerceptronTagger.load_from_json (nltk 3.9.1 and 3.10.x alike).
        tagger.model.weights = weights
        tagger.tagdict = tagdict
        tagger.classes = tagger.model.classes = set(classes)
        return cls(tagger)

    def _vector(self, feature: str) -> np.ndarray | None:
        """The weights of ``feature`` over the sorted labels (0.0 where absent); None if it has none."""
        weights = self._weights.get(feature)
        vector = None
        if weights is not None:
            vector = np.array([weights.get(label, 0.0) for label in self._labels], dtype=np.float64)
        self._vectors[feature] = vector
        return vector

    def _predict(self, keys: tuple[str, ...]) -> str:
        vectors = self._vectors
        rows = []
        for key in keys:
            vector = vectors[key] if key in vectors else self._vector(key)
            if vector is not None:  # nltk: `if feat not in self.weights: continue`
                rows.append(vector)
        if not rows:
            return self._labels[-1]  # all scores 0.0: nltk's tie-break picks the greatest label
        # Reducing along axis 0 adds the rows one after another, in feature order (pairwise summation only
        # happens along the contiguous axis): the same additions as nltk's loop, per label.
        scores = np.add.reduce(np.array(rows), axis=0)
        # nltk: max(classes, key=lambda label: (scores[label], label)); labels are sorted, so the greatest
        # label among the best scores is the last index where the maximum occurs.
        return self._labels[int(np.flatnonzero(scores == scores.max())[-1])]

    def tag(self, tokens: Sequence[str]) -> list[str]:
        """The Penn Treebank tag of every token, as ``[t for _, t in nltk.pos_tag(tokens)]``."""
        nltk_tagger = self._tagger
        tagdict, memo = nltk_tagger.tagdict, self._memo
        prev, prev2 = nltk_tagger.START
        context = nltk_tagger.START + [nltk_tagger.normalize(w) for w in tokens] + nltk_tagger.END
        tags = []
        for i, word in enumerate(tokens):
            tag = tagdict.get(word)
            if not tag:
                j = i + 2  # index of the token in ``context``
                key = (
                    word,
                    context[j - 2],
                    context[j - 1],
                    context[j],
                    context[j + 1],
                    context[j + 2],
                    prev,
                    prev2,
                )
                tag = memo.get(key)
                if tag is None:
                    tag = self._predict(features(word, context, j, prev, prev2))
                    if len(memo) >= MEMO_LIMIT:
                        memo.clear()
                    memo[key] = tag
            tags.append(tag)
            prev2, prev = prev, tag
        return tags
