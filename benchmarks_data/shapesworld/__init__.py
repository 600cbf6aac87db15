"""ShapesWorld: the project's synthetic end-to-end testbed (SHAPESWORLD.md), all in this one package.

Coloured shapes on a 4x4 grid with a co-occurrence bias (circle -> square, triangle -> star) and label noise
(objects named but not drawn), so a tiny captioner learns to hallucinate the co-occurring object. This package
samples and renders scenes, writes captions and questions, writes a 200-image evaluation benchmark in AMBER's
formats (scored by ``evaluation.amber`` unchanged), streams SFT examples and builds preference pairs; it also
owns the model builder (``model``), the SFT recipe (``shapes_demo_sft.yaml``), the demo checkpoint
(``assets/shapes-demo``), the pairs sampled from a model (``model_pairs``), the training stream (``stream``),
the ``--bench shapes`` entry (``bench``, ``metrics``, ``blindspots``). It imports the library; the library finds
it only through entry points (pyproject.toml: ``uedpo.train_streams``, ``uedpo.benchmarks``,
``uedpo.checkpoints``), never by name.

    python -m benchmarks_data.shapesworld --out DIR [--seed 0]
"""

from pathlib import Path

from benchmarks_data.shapesworld.benchmark import (
    BenchmarkSpec,
    Question,
    WrittenBenchmark,
    build_benchmark,
    write_benchmark,
)
from benchmarks_data.shapesworld.captions import (
    CAPTION_PROMPT,
    caption,
    colour_question,
    drawn_caption,
    existence_question,
    mentioned_shapes,
    text_vocabulary,
)
from benchmarks_data.shapesworld.loader import BiasCase, ShapesWorldBenchmark, load_benchmark
from benchmarks_data.shapesworld.pairs import (
    PairsReport,
    PreferencePair,
    build_pairs,
    hallucinated_objects,
    pick_rejected,
    write_preference_pairs,
)
from benchmarks_data.shapesworld.render import decode_jpeg, encode_jpeg, jpeg_roundtrip, render, render_batch
from benchmarks_data.shapesworld.scene import (
    BIAS_PAIRS,
    COLOURS,
    EVAL_CONFIG,
    FAINT_EVAL_CONFIG,
    SHAPES,
    TRAIN_CONFIG,
    Scene,
    SceneConfig,
    SceneObject,
    iter_scenes,
    sample_scene,
)
from benchmarks_data.shapesworld.sft import SftExample, iter_sft_examples

__all__ = [
    "BIAS_PAIRS", "CAPTION_PROMPT", "COLOURS", "EVAL_CONFIG", "FAINT_EVAL_CONFIG", "SHAPES", "TRAIN_CONFIG",
    "BenchmarkSpec", "BiasCase",
    "PairsReport", "PreferencePair", "Question", "Scene", "SceneConfig", "SceneObject", "SftExample",
    "ShapesWorldBenchmark", "WrittenBenchmark", "build_benchmark", "build_pairs", "caption", "colour_question",
    "decode_jpeg", "drawn_caption", "encode_jpeg", "existence_question", "hallucinated_objects", "iter_scenes",
    "iter_sft_examples", "jpeg_roundtrip", "load_benchmark", "mentioned_shapes", "pick_rejected", "render",
    "render_batch", "sample_scene", "text_vocabulary", "write_benchmark", "write_preference_pairs",
]

# `--ckpt shapes-demo` (entry point uedpo.checkpoints): the SFT recipe's result, with its README.
DEMO_CHECKPOINT = Path(__file__).resolve().parent / "assets" / "shapes-demo"
RECIPE = Path(__file__).resolve().parent / "shapes_demo_sft.yaml"
