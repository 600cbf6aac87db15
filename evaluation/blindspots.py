"""A checkpoint's blind spots, found from its own evaluation results (``uedpo-eval ... --blindspots``).

On a checkpoint's own greedy responses u = z(â) − z(a) ≤ 0 for every token by construction (the label *is*
the clear-image argmax), so the signal has to be read on text the model did **not** choose. For every
generative item of a ``uedpo-eval`` per-item file (``results.items.jsonl`` of AMBER, CHAIR, Object HalBench
or ShapesWorld) and every object the benchmark knows about, one row:

* **hallucinated** (the words the scorer flagged, at their first mention in the response): the model's own
  response is teacher-forced under the clear image, the counterfactual view and the prior view.
* **missed** (in the annotation, not mentioned: AMBER's uncovered truth objects, COCO ground-truth classes
  for CHAIR / Object HalBench, the scene's drawn objects for ShapesWorld): a **probe** that names the object
  in the model's own context is teacher-forced (templates below).
* **grounded** (mentioned and present, at their first mention in the response): the control group.

Definitions. Signals are those of :mod:`uedpo.probes` at the word's tokens (u, Δ, the gate, the type and â at
its first token; probabilities of the whole word):

* u = z_clear(â) − z_clear(a), Δ = z_clear(a) − z_view(a), â = argmax z_view, raw logits [paper, METHOD.md
  §1 / §3.3 step 5]. The view is the trainer's counterfactual (default: VCD diffusion noise at k = 500 on the
  normalised pixels, one ε per item, seeded by ``view_seed(seed, item id, step)``; :mod:`uedpo.views`), so u
  and Δ are the numbers UE-DPO would weigh. ``p_clear`` / ``p_blurred``: P(word | context) under the clear
  image / that view.
* gate and type: the UE-DPO gate and type of the word's first token computed over the teacher-forced text's
  tokens (τ = 0.4). Hallucinated words are read in the **dispreferred** branch (a response naming an absent
  object is what preference data rejects: ``eased`` / ``ungated``), missed and grounded objects in the
  **preferred** branch (a true statement: ``type-i`` / ``type-ii`` / ``ungated``) [paper's gates; the branch
  assignment is ours].
* verdict of a missed or grounded object: ``blind-spot`` iff u > 0, else ``seen`` [ours, on the paper's u]:
  under the clear image the model prefers its counterfactual-image guess over the object that is there.
  Grounded objects are read in the response itself, so for a greedy response their u ≤ 0 by construction
  and they are always ``seen``; their Δ, ``p_clear`` and ``prior_driven`` are the control.
* ``prior_driven`` / ``p_prior`` are read where the model chose the word (hallucinated and grounded rows);
  a missed object's probe has none (``null``): its verdict is u alone.
* verdict of a hallucinated word: ``prior-driven`` iff P(word | prior view) ≥ P(word | clear image), else
  ``image-driven`` [ours]. The **prior view** is the V-DPO "no image" (``null_zeros``: the all-zero normalised
  tensor, i.e. the CLIP-mean grey image; ``p_prior``), not the k = 500 noise: on the ShapesWorld demo the
  k = 500 image still shows the shapes (the study's "noisy argmax = token 90-97 %"), and "the blurred image
  predicts it at least as strongly" held for 25-33 % of co-occurrence hallucinations, other hallucinations
  and grounded objects alike, so it separated nothing; with the null image it is 62-81 % for co-occurrence
  hallucinations against 2 % for other hallucinations and 0-6 % for grounded objects (docs/shapesworld.md,
  "Blind spots"). ``--blindspots-prior-view blurred`` restores the first definition. The view of u stays
  the trainer's: with the null image as â's view the blind-spot rate of missed faint objects falls to 4.5 %
  (clear 6.7 %), as â becomes a no-image guess the clear image rarely ranks above a faint object.

Probes (the text teacher-forced for a missed object; ``probe`` in each row) [ours]:

* English benchmarks (AMBER, CHAIR, Object HalBench): the response, a space, then ``There is also a(n)
  <object> in the image.`` The model's own response is the context (it decides what the model has already
  said); the sentence's lead-in names nothing, so the slot where the object appears is the model's free
  choice of a further object, and â there is its guess for one; "also" keeps it consistent with the objects
  already named. The article follows the object's first letter.
* ShapesWorld: the response's own object list with the missed object inserted at its class-order place, in
  its true colour (``a red circle , a green square and a blue moon .``). The demo's captions always list the
  objects in class order and put a colour before each shape, so a sentence appended after the final "."
  would ask for a shape where the model never saw one (a class out of order, or a shape in place of a
  colour), and every object would look like a blind spot. The text before the inserted object is the
  model's own; a response that is not a template caption gets the phrase appended instead
  (``probe_kind: appended``).

Cost: per chunk of items one :meth:`uedpo.models.VLMAdapter.forward_batch` (clear + counterfactual, every
row of those items: the response and one probe per missed object), plus one prior-view pass over the
response rows. Output, resumable as generation is (a rerun computes only the items not yet in the file):
``<out>/blindspots.jsonl`` (one row per item × object, :data:`ROW_FIELDS` first), ``blindspots.summary.json``,
``blindspots.md``, ``blindspots.csv`` (per status, per status × group, per status × object class) and
``blindspots.html`` (u against Δ, coloured by status).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evaluation.benches import UsageError, benchmark_names, family, get_benchmark
from evaluation.generation import check_settings
from uedpo.io import IncompleteSetError, atomic_write_jsonl, check_member, publish_set

STATUSES = ("hallucinated", "missed", "grounded")
# The row format the inspector opens; every row has these fields first (extra ones follow).
ROW_FIELDS = ("bench", "id", "status", "word", "tokens", "u", "delta", "p_clear", "p_blurred", "type", "verdict",
              "probe")
PROBE_SENTENCE = "There is also {article} {object} in the image."
PROBE_VERSION = 1  # bump when a probe template changes (a resumed file must not mix templates)
ROWS_FILE, SETTINGS_FILE = "blindspots.jsonl", "blindspots.settings.json"
PRIOR_VIEW_KINDS = ("null_zeros", "null_random", "blurred")

IRREGULAR_SUFFIXES = (("man", "men"), ("fe", "ves"), ("f", "ves"), ("y", "ies"))
IRREGULAR_PLURALS = {"person": ("people",), "child": ("children",), "mouse": ("mice",), "foot": ("feet",),
                     "tooth": ("teeth",), "goose": ("geese",), "sheep": ("sheep",), "fish": ("fish",)}


# -- settings ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlindspotSettings:
    """How the signals are computed. ``view``: the counterfactual of u and Δ (default the trainer's k = 500
    noise); ``prior_view``: the image of the hallucination verdict (None: ``view`` itself)."""

    view: Any = None  # uedpo.views.ViewSpec; None -> ViewSpec() (noise, k = 500)
    prior_view: Any = "null_zeros"  # a ViewSpec, a kind name, or None (use ``view``)
    seed: int = 0
    step: int | None = None
    tau: float = 0.4
    score_space: str = "logit"
    batch_size: int = 16  # teacher-forced rows per forward

    def views(self):
        from uedpo.views import ViewSpec

        view = self.view if self.view is not None else ViewSpec()
        prior = self.prior_view
        if isinstance(prior, str):
            prior = None if prior == "blurred" else ViewSpec(kind=prior)
        return view, prior

    def record(self) -> dict[str, Any]:
        view, prior = self.views()
        record = {"view": asdict(view), "prior_view": asdict(prior) if prior is not None else "blurred",
                  "seed": self.seed, "step": self.step, "tau": self.tau, "score_space": self.score_space}
        return json.loads(json.dumps(record))  # as read back from a file (tuples as lists)


# -- what to measure -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectCase:
    """One object of one item: the text to teacher-force and where the object's word sits in it."""

    status: str
    word: str
    object_class: str
    text: str
    start: int
    end: int
    probe_kind: str  # "response" (the model's own text), "sentence", "inserted" or "appended"
    group: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemCases:
    row: dict[str, Any]
    image: Path
    question: str
    cases: tuple[ObjectCase, ...]
    unlocated: tuple[str, ...] = ()  # flagged / mentioned words not found in the response text


def surface_forms(word: str) -> set[str]:
    """``word`` (lower-cased, single spaces) and its plural spellings (scorers report lemmas)."""
    base = " ".join(word.lower().split())
    if not base:
        return set()
    forms = {base, base + "s", base + "es", *IRREGULAR_PLURALS.get(base, ())}
    for singular, plural in IRREGULAR_SUFFIXES:
        if base.endswith(singular):
            forms.add(base[: -len(singular)] + plural)
    return forms


def locate(text: str, word: str) -> tuple[int, int] | None:
    """Character span of the first whole-word occurrence of ``word`` (or a plural) in ``text``."""
    forms = sorted(surface_forms(word), key=len, reverse=True)
    if not forms:
        return None
    alternatives = "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in forms)
    found = re.search(rf"(?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])", text, flags=re.IGNORECASE)
    return (found.start(), found.end()) if found else None


def english_probe(response: str, obj: str) -> tuple[str, int, int]:
    """``response`` + ``There is also a(n) <obj> in the image.``; returns (text, start, end) of ``obj``."""
    article = "an" if obj[:1].lower() in "aeiou" else "a"
    lead = response if not response or response[-1].isspace() else response + " "
    head = lead + PROBE_SENTENCE.split("{object}")[0].format(article=article)
    text = head + obj + PROBE_SENTENCE.split("{object}")[1]
    return text, len(head), len(head) + len(obj)


def _mentioned(response: str, status: str, word: str, object_class: str, unlocated: list[str],
               **kw: Any) -> ObjectCase | None:
    span = locate(response, word)
    if span is None:
        unlocated.append(word)
        return None
    return ObjectCase(status, word, object_class, response, span[0], span[1], "response", **kw)


def amber_cases(row: dict[str, Any]) -> tuple[list[ObjectCase], list[str]]:
    """AMBER (and ShapesWorld) generative records: hallucinated mentions, covered and uncovered truth."""
    rec, response = row["record"], row["response"]
    cases: list[ObjectCase] = []
    unlocated: list[str] = []
    for word in dict.fromkeys(m["word"] for m in rec["mentions"] if m["verdict"] == "hallucinated"):
        if (case := _mentioned(response, "hallucinated", word, word, unlocated)) is not None:
            cases.append(case)
    covered = {t for t, flag in zip(rec["truth"], rec["covered"], strict=True) if flag}
    for truth in dict.fromkeys(rec["truth"]):
        if truth in covered:
            said = next((m["word"] for m in rec["mentions"] if m.get("covered_truth") == truth), truth)
            if (case := _mentioned(response, "grounded", said, truth, unlocated)) is not None:
                cases.append(case)
        else:
            text, start, end = english_probe(response, truth)
            cases.append(ObjectCase("missed", truth, truth, text, start, end, "sentence"))
    return cases, unlocated


def coco_cases(row: dict[str, Any]) -> tuple[list[ObjectCase], list[str]]:
    """CHAIR / Object HalBench records: hallucinated (word, class), mentioned GT classes, unmentioned ones."""
    rec, response = row["record"], row["response"]
    gt = list(rec["gt_objects"])
    cases: list[ObjectCase] = []
    unlocated: list[str] = []
    for word, cls in dict.fromkeys((w, c) for w, c in rec["hallucinated"]):
        if (case := _mentioned(response, "hallucinated", word, cls, unlocated)) is not None:
            cases.append(case)
    said: dict[str, str] = {}  # class -> the word that named it (CHAIR keeps them aligned; Object HalBench
    for word, cls in zip(rec.get("words", []), rec.get("mentioned", []), strict=False):  # keeps no words, so
        said.setdefault(cls, word)  # its grounded objects are found by their class name)
    mentioned = set(rec.get("mentioned", []))
    for cls in gt:
        if cls in mentioned:
            if (case := _mentioned(response, "grounded", said.get(cls, cls), cls, unlocated)) is not None:
                cases.append(case)
        else:
            text, start, end = english_probe(response, cls)
            cases.append(ObjectCase("missed", cls, cls, text, start, end, "sentence"))
    return cases, unlocated


def amber_blindspots(rows: Sequence[dict[str, Any]], bench: str, opts) -> Callable:
    """AMBER's hook: :func:`amber_cases`; rows scored from a responses file name no image or question, so
    those come from AMBER's queries (read once, on the first such row)."""
    queries: dict[int, Any] = {}

    def item(row: dict[str, Any]):
        image, question = row_source(row)
        if image is None or question is None:
            if not queries:
                from benchmarks_data.amber import load_amber_queries

                queries.update((q.id, q) for q in load_amber_queries("all", getattr(opts, "data_dir", None)))
            query = queries.get(int(row["id"]))
            image = image or (query.image if query else None)
            question = question or (query.query if query else None)
        return (image, question, *amber_cases(row))

    return item


def coco_blindspots(rows: Sequence[dict[str, Any]], bench: str, opts) -> Callable:
    """CHAIR's and Object HalBench's hook: :func:`coco_cases` on rows that name their image and question."""
    return lambda row: (*row_source(row), *coco_cases(row))


# -- reading and checking a per-item file --------------------------------------------------------------------
@dataclass(frozen=True)
class BlindspotPlan:
    """A checked per-item file, ready to measure: nothing here needs the model."""

    bench: str
    items_path: Path
    items: tuple[ItemCases, ...]
    items_sha256: str
    model: dict[str, Any] | None  # results.json's model record (None: scored from a file)


def read_items(path: Path, bench: str) -> list[dict[str, Any]]:
    """The rows of a ``uedpo-eval`` per-item file written for ``bench`` (UsageError otherwise)."""
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: not found; pass the results.items.jsonl of a uedpo-eval run") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: cannot read it ({err})") from None
    try:
        check_member(path, data=data)  # never analyse a per-item file beside another run's results.json
    except IncompleteSetError as err:
        raise UsageError(str(err)) from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise UsageError(f"{path}: line {lineno} is not JSON; pass the results.items.jsonl of a uedpo-eval "
                             "run") from None
        if not isinstance(row, dict) or not {"bench", "id", "response", "record"} <= set(row):
            raise UsageError(f"{path}: line {lineno} is not a uedpo-eval per-item row (bench, id, response, "
                             "record); pass results.items.jsonl, not the responses file")
        rows.append(row)
    if not rows:
        raise UsageError(f"{path}: no rows")
    written = {row["bench"] for row in rows}
    wrong = sorted(b for b in written if family(b) != family(bench))
    if wrong:
        raise UsageError(f"{path}: written by uedpo-eval for --bench {wrong[0]}, not for --bench {bench}; pass "
                         f"--bench {wrong[0]} or the {bench} per-item file")
    return rows


def results_model(items_path: Path) -> dict[str, Any] | None:
    """The ``model`` record of the results.json beside a per-item file (None when it records none)."""
    name = items_path.name
    results = items_path.with_name(name[: -len(".items.jsonl")] + ".json" if name.endswith(".items.jsonl")
                                   else "results.json")
    try:
        data = results.read_bytes()
        check_member(results, data=data)
        return json.loads(data.decode("utf-8")).get("model")
    except IncompleteSetError as err:
        raise UsageError(str(err)) from None
    except FileNotFoundError:
        raise UsageError(f"{results}: not found beside {items_path.name}; the blind-spot analysis needs the "
                         "results.json that names the checkpoint which wrote the responses") from None
    except (OSError, ValueError, AttributeError, RecursionError) as err:
        raise UsageError(f"{results}: not a uedpo-eval results file ({err})") from None


def _digest(record: dict[str, Any] | None) -> str | None:
    if not record:
        return None
    return record.get("sha256") or record.get("name")


def check_model(items_path: Path, recorded: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """Refuse a checkpoint or adapter other than the one that generated the per-item file's responses."""
    if recorded is None:
        return
    for part, flag in (("ckpt", "--ckpt"), ("adapter", "--adapter")):
        want, have = _digest(recorded.get(part)), _digest(current.get(part))
        if want != have:
            name = (recorded.get(part) or {}).get("name")
            raise UsageError(f"{items_path}: its responses were generated by {part} {name!r} (sha256 {want}), "
                             f"not by this {flag} (sha256 {have}); pass the checkpoint that wrote them")


def supported_benches() -> list[str]:
    """The registered benchmarks whose per-item files name objects to probe (their entry has blindspot_cases)."""
    return [name for name in benchmark_names() if get_benchmark(name).blindspot_cases is not None]


def row_source(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """The image and question a per-item row of ``uedpo-eval --ckpt`` names (None where it names none)."""
    return row.get("image"), row.get("question")


def plan_blindspots(items_path: Path, bench: str, opts, image_dir: Path | None = None) -> BlindspotPlan:
    """Read and check everything before a model is loaded: the file, its benchmark, its images, its cases."""
    hook = get_benchmark(bench).blindspot_cases
    if hook is None:
        raise UsageError(f"--blindspots: --bench {bench} has no object annotations to probe; use one of "
                         f"{', '.join(supported_benches())}")
    items_path = Path(items_path)
    rows = [r for r in read_items(items_path, bench) if isinstance(r["record"], dict)
            and ({"mentions", "covered"} <= set(r["record"]) or "gt_objects" in r["record"])]
    if not rows:
        raise UsageError(f"{items_path}: no generative items (descriptions with object annotations) to analyse")
    item_cases = hook(rows, bench, opts)  # row -> (image, question, cases, unlocated)
    items = []
    for row in rows:
        image, question, cases, unlocated = item_cases(row)
        if image is None or question is None:
            raise UsageError(f"{items_path}: item {row['id']} names no image or question; analyse the per-item "
                             "file of a uedpo-eval --ckpt run")
        path = Path(image)
        if not path.is_absolute():
            if image_dir is None:
                raise UsageError(f"{items_path}: images are named relative to the benchmark's image folder; pass "
                                 "--image-dir")
            path = Path(image_dir) / image
        if not path.is_file():
            raise UsageError(f"{path}: image of item {row['id']} is missing; pass the --image-dir the responses "
                             "were generated from")
        items.append(ItemCases(row=row, image=path, question=question, cases=tuple(cases),
                               unlocated=tuple(unlocated)))
    sha = hashlib.sha256(items_path.read_bytes()).hexdigest()
    return BlindspotPlan(bench=bench, items_path=items_path, items=tuple(items), items_sha256=sha,
                         model=results_model(items_path))


# -- measuring -----------------------------------------------------------------------------------------------
def _read_done(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Complete items already in ``path`` (an item is complete when all its ``item_rows`` rows are there);
    a half-written tail is dropped so that appends stay line-aligned."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    groups: dict[str, list[dict[str, Any]]] = {}
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        groups.setdefault(str(row["id"]), []).append(row)
    done = {k: v for k, v in groups.items() if len(v) == v[0].get("item_rows")}
    if len(done) != len(groups) or not text.endswith("\n"):
        atomic_write_jsonl(path, [r for rows in done.values() for r in rows])
    return done


def _chunks(items: Sequence[ItemCases], max_rows: int) -> list[list[ItemCases]]:
    chunks: list[list[ItemCases]] = []
    rows = 0
    for it in items:
        n = len({c.text for c in it.cases})
        if chunks and rows + n <= max_rows:
            chunks[-1].append(it)
            rows += n
        else:
            chunks.append([it])
            rows = n
    return chunks


def _measure_chunk(adapter, chunk: Sequence[ItemCases], settings: BlindspotSettings) -> list[list[dict[str, Any]]]:
    from PIL import Image

    from uedpo.models.spans import char_span_tokens
    from uedpo.probes import Span, is_prior_driven, span_logprobs, span_signals

    view, prior = settings.views()
    texts, images, questions, ids = [], [], [], []
    row_of: dict[tuple[int, str], int] = {}
    for k, it in enumerate(chunk):
        with Image.open(it.image) as im:
            image = im.convert("RGB")
        for case in it.cases:
            if (k, case.text) not in row_of:
                row_of[(k, case.text)] = len(texts)
                texts.append(case.text)
                images.append(image)
                questions.append(it.question)
                ids.append(str(it.row["id"]))
    tf = adapter.forward_batch(images, questions, texts, view=view, sample_ids=ids, seed=settings.seed,
                               step=settings.step)
    spans, where = [], []
    for k, it in enumerate(chunk):
        for case in it.cases:
            row = row_of[(k, case.text)]
            token_ids, index = char_span_tokens(adapter.tokenizer, case.text, case.start, case.end)
            if token_ids != tf.token_ids[row]:
                raise RuntimeError(f"item {it.row['id']}: the tokenizer's offsets disagree with the encoded text")
            spans.append(Span(row=row, tokens=index, preferred=case.status != "hallucinated"))
            where.append((k, case))
    signals = span_signals(tf.clear_logits, tf.blurred_logits, tf.labels, tf.mask, spans, tau=settings.tau,
                           score_space=settings.score_space)
    # The prior view is read where the model chose the word (hallucinated and grounded objects, in the response);
    # probes of missed objects get none (None), whose verdict is u alone.
    prior_logp: list[float | None] = [s.logp_blurred if c.probe_kind == "response" else None
                                      for s, (_, c) in zip(signals, where, strict=True)]
    need = sorted({s.span.row for s, (_, c) in zip(signals, where, strict=True) if c.probe_kind == "response"})
    if prior is not None and need:
        pf = adapter.forward_batch([images[r] for r in need], [questions[r] for r in need], [texts[r] for r in need],
                                   view=prior, sample_ids=[ids[r] for r in need], seed=settings.seed,
                                   step=settings.step)
        local = {r: j for j, r in enumerate(need)}
        picked = [j for j, s in enumerate(signals) if s.span.row in local]
        values = span_logprobs(pf.blurred_logits, pf.labels, pf.mask,
                               [Span(local[signals[j].span.row], signals[j].span.tokens) for j in picked])
        for j, value in zip(picked, values, strict=True):
            prior_logp[j] = value
    out: list[list[dict[str, Any]]] = [[] for _ in chunk]
    record = settings.record()
    for s, logp_prior, (k, case) in zip(signals, prior_logp, where, strict=True):
        it, row = chunk[k], s.span.row
        pos = list(s.span.tokens)
        prior_driven = None if logp_prior is None else is_prior_driven(s.logp_clear, logp_prior)
        if case.status == "hallucinated":
            verdict = "prior-driven" if prior_driven else "image-driven"
        else:
            verdict = "blind-spot" if s.blind_spot else "seen"
        out[k].append({
            "bench": it.row["bench"], "id": it.row["id"], "status": case.status, "word": case.word,
            "tokens": [tf.token_strings[row][t] for t in pos], "u": s.u, "delta": s.delta,
            "p_clear": s.p_clear, "p_blurred": s.p_blurred, "type": s.type, "verdict": verdict,
            "probe": case.text,
            "object_class": case.object_class, "group": case.group, "probe_kind": case.probe_kind,
            "span": [case.start, case.end], "token_index": pos, "token_ids": [tf.token_ids[row][t] for t in pos],
            "p_prior": None if logp_prior is None else math.exp(logp_prior),
            "logp_clear": s.logp_clear, "logp_blurred": s.logp_blurred, "logp_prior": logp_prior,
            "blurred_argmax": adapter.tokenizer.decode([s.blurred_argmax]), "blurred_argmax_id": s.blurred_argmax,
            "gated": s.gated, "branch": "dispreferred" if case.status == "hallucinated" else "preferred",
            "blind_spot": s.blind_spot, "prior_driven": prior_driven,
            "token_u": list(s.token_u), "token_delta": list(s.token_delta), "token_types": list(s.token_types),
            **case.extra,
            "image": str(it.row.get("image") or it.image), "question": it.question, "response": it.row["response"],
            **record,
        })
    for rows in out:
        for r in rows:
            r["item_rows"] = len(rows)
    return out


def measure(adapter, plan: BlindspotPlan, out_dir: Path, settings: BlindspotSettings, *,
            ckpt: dict[str, Any] | None = None, progress: bool = True, desc: str = "blind spots",
            ) -> list[dict[str, Any]]:
    """Measure every item of ``plan`` not yet in ``out_dir/blindspots.jsonl`` (appended per chunk, resumable);
    returns all rows in item order. ``ckpt``: the checkpoint/adapter record stamped into the settings."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    path = out_dir / ROWS_FILE
    out_dir.mkdir(parents=True, exist_ok=True)
    check_settings(path, {"bench": plan.bench, "items_sha256": plan.items_sha256, "probe_version": PROBE_VERSION,
                          "ckpt": _digest((ckpt or {}).get("ckpt")), "adapter": _digest((ckpt or {}).get("adapter")),
                          "family": adapter.family, "dtype": str(adapter.dtype).removeprefix("torch."),
                          **settings.record()})
    done = _read_done(path)
    todo = [it for it in plan.items if it.cases and str(it.row["id"]) not in done]
    stamp = {"ckpt": ((ckpt or {}).get("ckpt") or {}).get("name"),
             "adapter": ((ckpt or {}).get("adapter") or {}).get("name")}
    with open(path, "a", encoding="utf-8") as f, tqdm(total=len(plan.items), initial=len(plan.items) - len(todo),
                                                       desc=desc, unit="item", disable=not progress) as bar:
        for chunk in _chunks(todo, max(1, settings.batch_size)):
            for it, rows in zip(chunk, _measure_chunk(adapter, chunk, settings), strict=True):
                rows = [{**r, **stamp} for r in rows]
                f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
                done[str(it.row["id"])] = rows
            f.flush()
            os.fsync(f.fileno())
            bar.update(len(chunk))
    return [r for it in plan.items for r in done.get(str(it.row["id"]), [])]


# -- summary -------------------------------------------------------------------------------------------------
SUMMARY_COLUMNS = ("n", "blind_spot_%", "prior_driven_%", "u_mean", "u_median", "delta_mean", "p_clear_mean",
                   "p_blurred_mean", "p_prior_mean", "gated_%", "type-i_%", "type-ii_%", "eased_%")


def _stats(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    import statistics

    n = len(rows)

    def share(pred: Callable[[dict[str, Any]], bool]) -> float:
        return 100.0 * sum(bool(pred(r)) for r in rows) / n

    def mean(key: str) -> float | None:  # over the rows that have the value (probes have no p_prior)
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        return statistics.fmean(values) if values else None

    judged = [r["prior_driven"] for r in rows if r.get("prior_driven") is not None]
    return {"n": n, "blind_spot_%": share(lambda r: r["blind_spot"]),
            "prior_driven_%": 100.0 * sum(judged) / len(judged) if judged else None, "u_mean": mean("u"),
            "u_median": statistics.median(float(r["u"]) for r in rows), "delta_mean": mean("delta"),
            "p_clear_mean": mean("p_clear"), "p_blurred_mean": mean("p_blurred"), "p_prior_mean": mean("p_prior"),
            "gated_%": share(lambda r: r["gated"]), "type-i_%": share(lambda r: r["type"] == "type-i"),
            "type-ii_%": share(lambda r: r["type"] == "type-ii"), "eased_%": share(lambda r: r["type"] == "eased")}


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Tables of :data:`SUMMARY_COLUMNS` per status, per status × group, per status × object class."""
    tables: dict[str, list[dict[str, Any]]] = {"status": [], "group": [], "object_class": []}
    for status in STATUSES:
        mine = [r for r in rows if r["status"] == status]
        if not mine:
            continue
        tables["status"].append({"status": status, **_stats(mine)})
        for key in ("group", "object_class"):
            for value in sorted({r[key] for r in mine if r.get(key) is not None}):
                tables[key].append({"status": status, key: value,
                                    **_stats([r for r in mine if r.get(key) == value])})
    return tables


def markdown_table(table: list[dict[str, Any]]) -> str:
    import pandas as pd

    frame = pd.DataFrame(table)
    return frame.astype(object).where(frame.notna(), None).to_markdown(index=False, floatfmt=".3g", missingval="–")


def write_summary(rows: Sequence[dict[str, Any]], plan: BlindspotPlan, out_dir: Path,
                  settings: BlindspotSettings) -> dict[str, Any]:
    """``blindspots.summary.json`` / ``.md`` / ``.csv`` and the ``blindspots.html`` figure; returns the JSON."""
    import pandas as pd

    tables = summarise(rows)
    unlocated = [{"id": it.row["id"], "word": w} for it in plan.items for w in it.unlocated]
    summary = {"bench": plan.bench, "items": str(plan.items_path), "n_items": len(plan.items),
               "n_rows": len(rows), "model": plan.model, "settings": settings.record(),
               "unlocated": unlocated, "tables": tables}
    parts = [f"# Blind spots: {plan.bench} ({len(plan.items)} items, {len(rows)} objects)\n"]
    titles = {"status": "per status", "group": "per status and group", "object_class": "per status and object class"}
    for key, title in titles.items():
        if tables[key]:
            parts.append(f"## {title}\n\n{markdown_table(tables[key])}\n")
    if unlocated:
        parts.append(f"{len(unlocated)} flagged or mentioned words were not found in their response text and are "
                     "not rows (blindspots.summary.json lists them).\n")
    frames = [pd.DataFrame(t).assign(by=k) for k, t in tables.items() if t]
    # one set, like the results: a kill never leaves a new summary beside an old figure
    publish_set(out_dir, {"blindspots.summary.json": json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                          "blindspots.md": "\n".join(parts),
                          "blindspots.csv": pd.concat(frames).to_csv(index=False) if frames else "",
                          "blindspots.html": figure_html(rows, f"{plan.bench}: u against Δ")},
                "blindspots.manifest.json")
    return summary


STATUS_COLOURS = {"hallucinated": "#c8553d", "missed": "#2f6bbf", "grounded": "#8a8a95"}


def figure_html(rows: Sequence[dict[str, Any]], title: str) -> str:
    """u (x) against Δ (y), one trace per status (and group), hover: item, word, verdict, probe."""
    import html

    import plotly.graph_objects as go

    fig = go.Figure()
    keys = sorted({(r["status"], r.get("group") or "") for r in rows},
                  key=lambda k: (STATUSES.index(k[0]), k[1]))
    symbols = ["circle", "diamond", "square", "x", "triangle-up"]
    groups = sorted({g for _, g in keys})
    for status, group in keys:
        mine = [r for r in rows if r["status"] == status and (r.get("group") or "") == group]
        fig.add_trace(go.Scatter(
            x=[r["u"] for r in mine], y=[r["delta"] for r in mine], mode="markers",
            name=f"{status} / {group}" if group else status,
            marker=dict(color=STATUS_COLOURS[status], symbol=symbols[groups.index(group) % len(symbols)],
                        size=7, opacity=0.7),
            text=[html.escape(f"item {r['id']}: {r['word']} ({r['verdict']})") for r in mine],
            hovertemplate="%{text}<br>u=%{x:.3f} Δ=%{y:.3f}<extra></extra>"))
    fig.add_vline(x=0, line_dash="dot", line_color="#555", annotation_text="u = 0 (blind spot →)")
    fig.update_layout(title=html.escape(title), xaxis_title="u = z(â) − z(a)", yaxis_title="Δ = z(a) − z′(a)",
                      template="plotly_white", height=520)
    return fig.to_html(include_plotlyjs=True, full_html=True)


def find_blindspots(adapter, plan: BlindspotPlan, out_dir: Path, settings: BlindspotSettings | None = None, *,
                    ckpt: dict[str, Any] | None = None, progress: bool = True, desc: str = "blind spots",
                    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The whole analysis of a checked plan: rows (resumable JSONL) and the summary files beside them."""
    settings = settings or BlindspotSettings()
    rows = measure(adapter, plan, out_dir, settings, ckpt=ckpt, progress=progress, desc=desc)
    return rows, write_summary(rows, plan, Path(out_dir), settings)
