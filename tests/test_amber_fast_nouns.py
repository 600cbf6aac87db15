"""The fast noun extractor (used by the ShapesWorld demo) gives the official NLTK pipeline's nouns."""

import random

from conftest import need_data, need_nltk

from benchmarks_data.shapesworld.captions import iter_all_captions
from evaluation.amber.nlp import fast_noun_extractor, nltk_noun_extractor


def test_fast_extractor_matches_nltk_on_shapes_captions_and_real_answers():
    need_nltk()
    root = need_data("object_halbench/validation/opera_llava15/greedy.jsonl")
    import json

    captions = [text for _, text in iter_all_captions(max_objects=2)]
    rng = random.Random(0)
    real = [json.loads(x)["caption"] for x in (root / "object_halbench/validation/opera_llava15/greedy.jsonl")
            .read_text().splitlines()]
    texts = rng.sample(captions, 300) + real[:150]
    fast, official = fast_noun_extractor(), nltk_noun_extractor()
    differ = [t for t in texts if fast(t) != official(t)]
    assert not differ, differ[:3]
    assert fast("There are two dogs and a TV.") == ("dog", "TV")
