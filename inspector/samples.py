"""Files the inspector opens: preference pairs, ``uedpo-eval`` per-item responses and blind-spot files (JSONL).

Three row shapes, told apart per row (extra keys are ignored in all of them):

* a **preference pair** in the trainer's format: ``{"id", "image", "prompt", "chosen", "rejected"}``
  (``id`` optional, then ``line N``; ``images: [path]`` with one path is accepted for ``image``);
* a **benchmark response** from a ``uedpo-eval`` per-item file: ``{"bench", "id", "image", "question",
  "response", "hallucinated": [words], ...}``. ``hallucinated`` holds the words AMBER or CHAIR flagged; the
  inspector marks them on the response's tokens. The response is the model's own greedy output;
* a **blind-spot row** of ``uedpo-eval --blindspots`` (``OUT/<bench>/blindspots.jsonl``), one per item × object:
  ``{"id", "status", "word", "tokens", "u", "delta", "p_clear", "p_blurred", "type", "verdict", "probe"}``
  (required), usually with ``"bench", "image", "question", "response", "object_class", "ckpt", "adapter",
  "seed", "step"``. ``status`` is ``hallucinated`` | ``missed`` | ``grounded``; ``verdict`` is
  ``prior-driven`` | ``image-driven`` (hallucinated objects) or ``blind-spot`` | ``seen``; ``probe`` is the text
  that was teacher-forced (the response, or the response continued with a sentence naming a missed object).
  A row is a blind-spot row when it has ``verdict``, ``probe`` or ``status``. Rows are grouped by ``id`` into
  one item (:class:`Sample` with its :attr:`Sample.objects`); the item's ``image`` and ``question`` come from
  its rows, or from a per-item response row with the same ``id`` (``--samples items.jsonl --blindspots
  blindspots.jsonl``). Values are normalised: ``Type_I`` → ``type-i``, ``blind spot`` → ``blind-spot``.

A literal image placeholder in the prompt (``<image>`` of LLaVA-format data, Qwen's vision tokens) is
removed, as the trainer does: the adapter adds its own. ``image`` is an absolute path, or relative to
``image_dir`` when given, else to the file's directory.

A broken row (bad JSON, a missing or mistyped field, a missing image file, a repeated id) becomes one line in
:attr:`SampleFile.errors` naming the file, the line and the fix; the other rows still load.

:func:`shown` applies the page's filters (:data:`FILTERS`) and search to the items.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from inspector.errors import InputError

PAIR_FIELDS = ("image", "prompt", "chosen", "rejected")  # "id" optional, as in the trainer's format
EVAL_FIELDS = ("bench", "id", "image", "question", "response")
BLINDSPOT_FIELDS = (
    "id",
    "status",
    "word",
    "tokens",
    "u",
    "delta",
    "p_clear",
    "p_blurred",
    "type",
    "verdict",
    "probe",
)
STATUSES = ("hallucinated", "missed", "grounded")
VERDICTS = ("prior-driven", "image-driven", "blind-spot", "seen")
# Run settings a blind-spot row may carry (``k`` from its ``view`` record); shown beside the object and
# compared with the page's.
RUN_KEYS = ("ckpt", "adapter", "seed", "step", "k", "tau")
# Further facts of the writer (evaluation/blindspots.py) shown in the object panel when present.
DETAIL_KEYS = ("object_class", "group", "probe_kind", "branch", "p_prior", "blurred_argmax", "gated")
# The placeholders uedpo.train.data strips from questions; the adapter inserts its own.
IMAGE_PLACEHOLDER = re.compile(r"<image>\s*|<\|vision_start\|>(<\|image_pad\|>)+<\|vision_end\|>\s*")
FILTERS = {
    "all": "all items",
    "flagged": "flagged items only",
    "missed": "missed objects",
    "blind-spot": "blind spots",
    "type-i": "Type-I",
}
LABEL_WORDS = 4  # flagged words listed in a dropdown label before "+N"


@dataclass(frozen=True)
class ObjectRow:
    """One object of a blind-spot item: the file's numbers for it and the probe that produced them."""

    word: str
    status: str  # hallucinated | missed | grounded
    verdict: str  # prior-driven | image-driven | blind-spot | seen
    type: str  # type-i | type-ii | ungated | eased | ...
    tokens: tuple[str, ...]
    u: float
    delta: float
    p_clear: float
    p_blurred: float
    probe: str
    line: int = 0
    where: str = ""  # "blindspots.jsonl line 3"
    run: Mapping[str, object] = field(default_factory=dict)  # RUN_KEYS present in the row
    details: Mapping[str, object] = field(default_factory=dict)  # DETAIL_KEYS present in the row
    token_index: tuple[int, ...] | None = None  # the word's token positions in the probe, when written

    @property
    def key(self) -> str:
        """Unique within its item (an item has one row per object and status)."""
        return f"{self.word} [{self.status}]"

    @property
    def label(self) -> str:
        return f"{self.word} · {self.status} · {self.verdict}"


@dataclass(frozen=True)
class Sample:
    """One item, normalised: ``preferred`` is the chosen (pair), the benchmark response (eval), or the
    response / first probe of a blind-spot item."""

    id: str
    image: Path
    question: str
    preferred: str
    dispreferred: str | None
    kind: str  # "pair" | "eval" | "blindspots"
    bench: str | None = None
    hallucinated: tuple[str, ...] = ()
    line: int = 0
    objects: tuple[ObjectRow, ...] = ()
    response: str | None = None  # the model's own (greedy) response of an eval or blind-spot item

    @property
    def missed(self) -> tuple[str, ...]:
        return tuple(o.word for o in self.objects if o.status == "missed")

    @property
    def blind_spots(self) -> tuple[str, ...]:
        return tuple(o.word for o in self.objects if o.verdict == "blind-spot")

    @property
    def status(self) -> str:
        """``pair``, ``clean`` or what the scorer / blind-spot file found: ``hallucinated: dog · missed: cat``."""
        if self.kind == "pair":
            return "pair"
        parts = [
            f"{name}: {_word_list(words)}"
            for name, words in (
                ("hallucinated", self.hallucinated),
                ("missed", self.missed),
                ("blind spots", self.blind_spots),
            )
            if words
        ]
        return " · ".join(parts) or "clean"

    @property
    def label(self) -> str:
        """The dropdown label: id, status and the flagged words (unique: ids are)."""
        return f"{self.id} · {self.status}"

    def object(self, key: str | None) -> ObjectRow | None:
        for obj in self.objects:
            if obj.key == key or obj.label == key:
                return obj
        return None

    def first_object(self, filter_name: str = "all") -> ObjectRow | None:
        """The first object the filter selects (the first object when none does)."""
        return next((o for o in self.objects if object_matches(o, filter_name)), None) or (
            self.objects[0] if self.objects else None
        )


def _word_list(words: Sequence[str]) -> str:
    unique = list(dict.fromkeys(words))
    more = len(unique) - LABEL_WORDS
    return ", ".join(unique[:LABEL_WORDS]) + (f" +{more}" if more > 0 else "")


@dataclass(frozen=True)
class SampleFile:
    path: Path
    samples: tuple[Sample, ...]
    errors: tuple[str, ...]

    def by_label(self, label: str) -> Sample:
        """The item whose label or id is ``label``."""
        for sample in self.samples:
            if label in (sample.label, sample.id):
                return sample
        raise InputError(
            f"samples file {self.path.name}: no row {label!r}; pick one from the list", field="sample"
        )

    @property
    def has_objects(self) -> bool:
        return any(s.objects for s in self.samples)


# -- filters -----------------------------------------------------------------------------------------------
def object_matches(obj: ObjectRow, filter_name: str) -> bool:
    if filter_name == "flagged":
        return obj.status == "hallucinated"
    if filter_name == "missed":
        return obj.status == "missed"
    if filter_name == "blind-spot":
        return obj.verdict == "blind-spot"
    if filter_name == "type-i":
        return obj.type == "type-i"
    return True


def sample_matches(sample: Sample, filter_name: str) -> bool:
    """Whether the item passes the filter: ``flagged`` needs a flagged word, the others an object row."""
    if filter_name not in FILTERS:
        raise InputError(f"filter: expected one of {', '.join(FILTERS)}, got {filter_name!r}", field="filter")
    if filter_name == "all":
        return True
    if filter_name == "flagged" and sample.hallucinated:
        return True
    return any(object_matches(o, filter_name) for o in sample.objects)


def search_matches(sample: Sample, query: str | None) -> bool:
    """Case-insensitive: the id contains the query, or a flagged / object word does, or the response has it
    as a whole word."""
    q = (query or "").strip().lower()
    if not q:
        return True
    words = [*sample.hallucinated, *(o.word for o in sample.objects)]
    if q in sample.id.lower() or any(q in w.lower() for w in words):
        return True
    return re.search(rf"(?<!\w){re.escape(q)}(?!\w)", sample.preferred.lower()) is not None


def shown(samples: Sequence[Sample], filter_name: str = "all", query: str | None = "") -> list[Sample]:
    return [s for s in samples if sample_matches(s, filter_name) and search_matches(s, query)]


# -- parsing -----------------------------------------------------------------------------------------------
def _text(row: dict, key: str, *, allow_empty: bool = False) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise InputError(f"field {key!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise InputError(f"field {key!r} is empty")
    return value


def _question(row: dict, key: str) -> str:
    return IMAGE_PLACEHOLDER.sub("", _text(row, key)).strip()


def _number(row: dict, key: str) -> float:
    """A float; JSON ``null`` (how writers store NaN) reads as NaN."""
    value = row.get(key)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"field {key!r} must be a number, got {type(value).__name__}")
    return float(value)


def _probability(row: dict, key: str) -> float:
    value = _number(row, key)
    if math.isfinite(value) and not 0.0 <= value <= 1.0:
        raise InputError(f"field {key!r} = {value:g} is no probability; expected a value in [0, 1]")
    return value


def _label(value: object) -> str:
    """``Type_I`` → ``type-i``, ``Blind spot`` → ``blind-spot``."""
    return re.sub(r"[\s_]+", "-", str(value).strip().lower())


def _resolve_image(name: str, base: Path, image_dir: Path | None) -> Path:
    path = Path(name).expanduser()
    candidates = [path] if path.is_absolute() else [d / path for d in (image_dir, base) if d is not None]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = " or ".join(str(c.parent) for c in candidates)
    raise InputError(f"image {name!r} not found in {where}; pass --image-dir or fix the path")


def is_blindspot_row(row: dict) -> bool:
    return "verdict" in row or "probe" in row or "status" in row


def parse_row(row: object, *, base: Path, image_dir: Path | None, line: int) -> Sample:
    """One pair or response row as a :class:`Sample`; :class:`InputError` (without the file/line prefix)."""
    if not isinstance(row, dict):
        raise InputError(f"expected a JSON object, got {type(row).__name__}")
    is_pair = "chosen" in row or "rejected" in row
    images = row.get("images")
    if is_pair and "image" not in row and isinstance(images, list) and len(images) == 1:
        row = {**row, "image": images[0]}
    fields = PAIR_FIELDS if is_pair else EVAL_FIELDS
    missing = [k for k in fields if k not in row]
    if missing:
        kind = "a preference pair" if is_pair else "a uedpo-eval response"
        raise InputError(f"missing field(s) {', '.join(missing)} for {kind} row (needs {', '.join(fields)})")
    sample_id = str(row["id"]) if "id" in row else f"line {line}"
    image = _resolve_image(_text(row, "image"), base, image_dir)
    if is_pair:
        return Sample(
            id=sample_id,
            image=image,
            question=_question(row, "prompt"),
            preferred=_text(row, "chosen"),
            dispreferred=_text(row, "rejected"),
            kind="pair",
            line=line,
        )
    words = row.get("hallucinated", [])
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise InputError("field 'hallucinated' must be a list of words (strings)")
    response = _text(row, "response")
    return Sample(
        id=sample_id,
        image=image,
        question=_question(row, "question"),
        preferred=response,
        dispreferred=None,
        kind="eval",
        bench=_text(row, "bench"),
        hallucinated=tuple(words),
        line=line,
        response=response,
    )


@dataclass(frozen=True)
class _BlindRow:
    """A parsed blind-spot row: its object, and the item fields it carries (None where absent)."""

    id: str
    obj: ObjectRow
    image: Path | None
    question: str | None
    response: str | None
    bench: str | None


def _run(row: dict) -> dict:
    """The row's run settings: ckpt, adapter, seed, step, k (``k``, ``noise_step`` or its noise ``view``), τ."""
    run = {k: row[k] for k in RUN_KEYS if row.get(k) is not None}
    view = row.get("view")
    k = row.get("noise_step")
    if isinstance(view, dict) and view.get("kind", "noise") == "noise":
        k = view.get("noise_step", k)
    if k is not None and "k" not in run:
        run["k"] = k
    return run


def parse_blindspot_row(row: dict, *, base: Path, image_dir: Path | None, line: int, where: str) -> _BlindRow:
    """One blind-spot row; :class:`InputError` (without the file/line prefix) naming the field and the fix."""
    missing = [k for k in BLINDSPOT_FIELDS if k not in row]
    if missing:
        raise InputError(
            f"missing field(s) {', '.join(missing)} for a blind-spot row (needs {', '.join(BLINDSPOT_FIELDS)}); "
            "write it with uedpo-eval --blindspots"
        )
    status = _label(row["status"])
    if status not in STATUSES:
        raise InputError(f"field 'status' is {row['status']!r}; expected one of {', '.join(STATUSES)}")
    tokens = row["tokens"]
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise InputError("field 'tokens' must be a list of token strings (the word's tokens)")
    for key in ("type", "verdict"):
        if not isinstance(row[key], str) or not row[key].strip():
            raise InputError(f"field {key!r} must be a non-empty string, got {row[key]!r}")
    index = row.get("token_index")
    if index is not None and (
        not isinstance(index, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in index)
    ):
        raise InputError("field 'token_index' must be a list of token positions (integers)")
    obj = ObjectRow(
        word=_text(row, "word"),
        status=status,
        verdict=_label(row["verdict"]),
        type=_label(row["type"]),
        tokens=tuple(tokens),
        u=_number(row, "u"),
        delta=_number(row, "delta"),
        p_clear=_probability(row, "p_clear"),
        p_blurred=_probability(row, "p_blurred"),
        probe=_text(row, "probe"),
        line=line,
        where=where,
        run=_run(row),
        details={k: row[k] for k in DETAIL_KEYS if row.get(k) is not None},
        token_index=tuple(index) if index is not None else None,
    )
    image = _resolve_image(_text(row, "image"), base, image_dir) if row.get("image") is not None else None
    question = _question(row, "question") if row.get("question") is not None else None
    response = _text(row, "response") if row.get("response") is not None else None
    bench = str(row["bench"]) if row.get("bench") is not None else None
    return _BlindRow(str(row["id"]), obj, image, question, response, bench)


def _loads(raw: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg} at column {err.colno}); fix or delete the line") from err


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{what} {path}: cannot be read ({err}); pass a UTF-8 JSONL file") from err


class _Loader:
    """Rows of one or more files → items, with one error line per broken row."""

    def __init__(self, image_dir: Path | None) -> None:
        self.image_dir = image_dir
        self.samples: dict[str, Sample] = {}  # pair / eval rows by id, in file order
        self.blind: dict[str, list[_BlindRow]] = {}  # blind-spot rows by item id, in file order
        self.order: list[str] = []  # item ids in order of first appearance
        self.errors: list[str] = []

    def _error(self, path: Path, number: int, row: object, err: InputError) -> None:
        row_id = row.get("id") if isinstance(row, dict) else None
        item = f" (id {row_id!r})" if row_id is not None else ""
        self.errors.append(f"{path.name} line {number}{item}: {err}")

    def read(self, path: Path, text: str) -> None:
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            row: object = None
            try:
                row = _loads(raw)
                if isinstance(row, dict) and is_blindspot_row(row):
                    self._add_blind(row, path, number)
                else:
                    self._add_sample(parse_row(row, base=path.parent, image_dir=self.image_dir, line=number))
            except InputError as err:
                self._error(path, number, row, err)

    def _add_sample(self, sample: Sample) -> None:
        if sample.id in self.samples:
            raise InputError(f"id {sample.id!r} repeats an earlier row; ids must be unique")
        self.samples[sample.id] = sample
        if sample.id not in self.order:
            self.order.append(sample.id)

    def _add_blind(self, row: dict, path: Path, number: int) -> None:
        where = f"{path.name} line {number}"
        parsed = parse_blindspot_row(
            row, base=path.parent, image_dir=self.image_dir, line=number, where=where
        )
        rows = self.blind.setdefault(parsed.id, [])
        for earlier in rows:
            if earlier.obj.key == parsed.obj.key:
                raise InputError(
                    f"object {parsed.obj.key} repeats {earlier.obj.where}; one row per item and object"
                )
            for name in ("image", "question", "response"):
                mine, theirs = getattr(parsed, name), getattr(earlier, name)
                if mine is not None and theirs is not None and mine != theirs:
                    raise InputError(
                        f"field {name!r} differs from {earlier.obj.where}'s; one item has one {name}"
                    )
        rows.append(parsed)
        if parsed.id not in self.order:
            self.order.append(parsed.id)

    def _merge(self, item_id: str, rows: list[_BlindRow]) -> Sample:
        base = self.samples.get(item_id)
        first = rows[0]

        def pick(name: str):
            return next((getattr(r, name) for r in rows if getattr(r, name) is not None), None)

        image = pick("image") or (base.image if base else None)
        question = pick("question")
        question = question if question is not None else (base.question if base else None)
        missing = [name for name, value in (("image", image), ("question", question)) if value is None]
        if missing:
            raise InputError(
                f"blind-spot item {item_id!r} has no {' or '.join(missing)}: add the field(s) to its rows, or "
                "open it beside the per-item file: --samples OUT/<bench>/results.items.jsonl --blindspots FILE"
            )
        response = pick("response") or (base.response if base else None)
        non_missed = next((r.obj.probe for r in rows if r.obj.status != "missed"), None)
        preferred = response or (base.preferred if base else None) or non_missed or first.obj.probe
        flagged = [r.obj.word for r in rows if r.obj.status == "hallucinated"]
        hallucinated = tuple(dict.fromkeys([*(base.hallucinated if base else ()), *flagged]))
        return Sample(
            id=item_id,
            image=image,
            question=question,
            preferred=preferred,
            dispreferred=base.dispreferred if base else None,
            kind="blindspots",
            bench=pick("bench") or (base.bench if base else None),
            hallucinated=hallucinated,
            line=base.line if base else first.obj.line,
            objects=tuple(r.obj for r in rows),
            response=response,
        )

    def items(self) -> list[Sample]:
        out = []
        for item_id in self.order:
            rows = self.blind.get(item_id)
            if not rows:
                out.append(self.samples[item_id])
                continue
            try:
                out.append(self._merge(item_id, rows))
            except InputError as err:
                self.errors.append(f"{rows[0].obj.where} (id {item_id!r}): {err}")
        return out


def read_samples(
    path: str | Path, *, image_dir: str | Path | None = None, blindspots: str | Path | None = None
) -> SampleFile:
    """All good rows of a JSONL file (pairs, responses or blind-spot rows), and one error line per broken row.

    ``blindspots``: a second file of blind-spot rows whose items are joined to ``path``'s rows by ``id``.
    :class:`InputError` only when a file cannot be read or holds no good row at all.
    """
    path = Path(path)
    loader = _Loader(Path(image_dir) if image_dir is not None else None)
    loader.read(path, _read_text(path, "samples file"))
    if blindspots is not None:
        loader.read(Path(blindspots), _read_text(Path(blindspots), "blind-spot file"))
    samples = loader.items()
    if not samples:
        detail = f"; first problem: {loader.errors[0]}" if loader.errors else ""
        raise InputError(f"samples file {path}: no usable row{detail}")
    return SampleFile(path=path, samples=tuple(samples), errors=tuple(loader.errors))
