"""What the app's events do, without gradio: each handler returns ``{output name: value}``.

The Gradio layer (:mod:`inspector.app`) only maps these names to components; names a handler leaves out keep
their current value. Two kinds of value are not plain component values: a :class:`Choices` (a dropdown's new
options and value) and the booleans ``show_dispreferred`` / ``show_object`` / ``show_compare_dispreferred``
(what to show). Every handler turns bad input into a one-line message in the status line and beside the
control that caused it (``error:<field>``, :data:`ERROR_FIELDS`) and never raises, so the app keeps serving.

The noise of an analysis is the trainer's (:mod:`inspector.analysis`): the analysis function is called with
the ``sample_id`` of the picked samples row (its ``id`` field), or the empty id for an uploaded image; the run
seed and step are bound into it (``uedpo-inspect --seed S --step N``).

Handlers and their cost: :meth:`InspectorSession.analyse` (forwards), :meth:`InspectorSession.refresh`
(forwards only when the text, image or noise step k changed: sample, object and k events),
:meth:`InspectorSession.regate` (α / τ: gates only, no forward), :meth:`InspectorSession.rerender`
(colour mode), :meth:`InspectorSession.pick` (fill the inputs from an item), :meth:`InspectorSession.pick_object`,
:meth:`InspectorSession.filter_items` (filters and search), :meth:`InspectorSession.export` and
:meth:`InspectorSession.export_all` (every shown sample: one forward per sample and probe).
"""

from __future__ import annotations

import hashlib
import html
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
from PIL import Image

from inspector import export, figures, render
from inspector.analysis import NO_SAMPLE_ID, PairView, regate
from inspector.compare import compare_responses
from inspector.errors import InputError
from inspector.hallucination import flagged_tokens, match_words
from inspector.images import open_image
from inspector.objects import object_panel_html, object_tokens, objects_frame, response_note
from inspector.samples import FILTERS, Sample, SampleFile, object_matches, shown
from uedpo.io import atomic_write_text

log = logging.getLogger(__name__)

# (image, question, preferred, dispreferred, *, alpha, tau, noise_step, sample_id) -> PairView
AnalyseFn = Callable[..., PairView]
EXPORT_PREFIX = "uedpo-inspect-"  # the temporary folder of a session: exports, previews, gradio's cache
OVERLAY_IDS = {"preferred": "token-overlay", "dispreferred": "token-overlay-dispreferred"}
COMPARE_OVERLAY_IDS = {
    "preferred": "token-overlay-compare",
    "dispreferred": "token-overlay-compare-dispreferred",
}
# Controls an error can be shown beside (``error:<field>`` outputs; the page's ``#error-<field>``).
ERROR_FIELDS = (
    "filter",
    "sample",
    "object",
    "image",
    "preferred",
    "dispreferred",
    "words",
    "alpha",
    "tau",
    "noise-step",
    "analyze",
    "compare",
    "export",
)
CLEAR_ERRORS = {f"error:{name}": "" for name in ERROR_FIELDS}


@dataclass(frozen=True)
class Choices:
    """A dropdown's options ``(label, value)`` and its selected value (``None``: nothing selected)."""

    options: list[tuple[str, str]]
    value: str | None


@dataclass(frozen=True)
class ModelInfo:
    """What a side of the page runs: base checkpoint and LoRA adapter (``""``: none)."""

    checkpoint: str
    adapter: str = ""

    @property
    def label(self) -> str:
        return (
            f"{self.checkpoint} + adapter {self.adapter}"
            if self.adapter
            else f"{self.checkpoint} (no adapter)"
        )


@dataclass(frozen=True)
class ViewState:
    """Per-browser-session state: the analysed pair under checkpoint A (and B when comparing)."""

    view: PairView
    view_b: PairView | None = None
    source: str = ""
    sample: Sample | None = None  # the item analysed (None for an uploaded image)
    object_key: str | None = None  # the selected object of a blind-spot item
    key: tuple = field(default=(), compare=False)  # what the forwards depended on (see InspectorSession._key)


def _step_label(step: int | None) -> str:
    return "fixed" if step is None else str(step)


def parse_words(text: str | None) -> list[str]:
    """Comma- or newline-separated flagged words, stripped, empty ones dropped."""
    return [w.strip() for w in (text or "").replace("\n", ",").split(",") if w.strip()]


def _flagged(view: PairView, words: Sequence[str]):
    matches = match_words([t.token for t in view.preferred.tokens], words) if words else []
    return matches, flagged_tokens(matches)


def _number(value, name: str, field_name: str, *, whole: bool = False, low=None, high=None) -> float:
    """A slider's value as a number; :class:`InputError` beside the slider for an empty or bad entry."""
    hint = f" from {low:g} to {high:g}" if low is not None and high is not None else ""
    kind = "a whole number" if whole else "a number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {value!r} is not {kind}; type {kind}{hint}", field=field_name) from None
    if not math.isfinite(number) or (whole and number != int(number)):
        raise InputError(f"{name}: {value!r} is not {kind}; type {kind}{hint}", field=field_name)
    if (low is not None and number < low) or (high is not None and number > high):
        raise InputError(f"{name}: {number:g} is out of range; type {kind}{hint}", field=field_name)
    return number


def _gates(alpha, tau) -> tuple[float, float]:
    return _number(alpha, "α", "alpha", low=0.0, high=1.0), _number(tau, "τ", "tau", low=0.05, high=0.95)


def _settings(alpha, tau, noise_step) -> tuple[float, float, int]:
    return (
        *_gates(alpha, tau),
        int(_number(noise_step, "noise step k", "noise-step", whole=True, low=0, high=999)),
    )


def _error_html(message: str) -> str:
    return f'<div class="ued-field-error" role="alert">{html.escape(message)}</div>'


def _markdown_html(text: str) -> str:
    """The few Markdown marks of a response note (bold, code) as HTML, for the offline report."""
    if not text:
        return ""
    body = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text, quote=False))
    body = re.sub(r"`(.+?)`", r"<code>\1</code>", body)
    return f"<p class='ued-meta'>{body}</p>"


class InspectorSession:
    """The app's behaviour around an analysis function (the real :func:`~inspector.analysis.analyse_pair`
    bound to an adapter, or a fake in tests)."""

    def __init__(
        self,
        analyse_fn: AnalyseFn,
        *,
        compare_fn: AnalyseFn | None = None,
        samples: SampleFile | None = None,
        export_root: str | Path | None = None,
        model_a: ModelInfo | None = None,
        model_b: ModelInfo | None = None,
        serialise_forwards: bool = True,
    ) -> None:
        self.analyse_fn = analyse_fn
        self.compare_fn = compare_fn
        self.samples = samples
        self.export_root = Path(export_root or tempfile.mkdtemp(prefix=EXPORT_PREFIX))
        # A folder of its own is removed by :meth:`close`, or when the session goes or the interpreter exits.
        self._remove_root = (
            weakref.finalize(self, shutil.rmtree, str(self.export_root), True)
            if export_root is None
            else None
        )
        self.model_a = model_a
        self.model_b = model_b
        # Handlers run in gradio's worker threads, several at once. A model is no thread-safe object (its
        # fast tokenizer raises "Already borrowed" when shared, two forwards on one device only contend), so
        # the forwards take turns; rendering, exports and file serving of other users go on meanwhile.
        self._forward_lock = threading.Lock() if serialise_forwards else None
        self._waits = threading.local()
        self._preview_lock = threading.Lock()
        self._previews: dict[tuple, str] = {}

    def _forward(self, fn: AnalyseFn, *args, **kwargs) -> PairView:
        """``fn(*args, **kwargs)`` in turn with other threads' forwards; the time spent waiting for them is
        added to this thread's ``_waits.seconds`` (the status line reports it apart from the forward's)."""
        if self._forward_lock is None:
            return fn(*args, **kwargs)
        start = time.perf_counter()
        with self._forward_lock:
            self._waits.seconds = getattr(self._waits, "seconds", 0.0) + time.perf_counter() - start
            return fn(*args, **kwargs)

    def close(self) -> None:
        """Remove the folder of exports and previews when the session made it (``export_root`` not given)."""
        if self._remove_root is not None:
            self._remove_root()

    def preview_file(self, image: Image.Image, source_key: tuple) -> str:
        """The image shown as analysed, as a PNG in ``export_root/previews``, written once per source.

        A file, not a PIL image: gradio writes a PIL output to ``<cache>/<hash of its bytes>/image.webp`` in
        place, so two users viewing the same image rewrite the file a third one is downloading, and that
        download fails ("Too little data for declared Content-Length"). A file path is copied into the cache
        under a temporary name and renamed; this one is never rewritten either.
        """
        with self._preview_lock:
            path = self._previews.get(source_key)
            if path is not None and os.path.isfile(path):
                return path
            name = hashlib.sha256(repr(source_key).encode()).hexdigest()[:20] + ".png"
            target = self.export_root / "previews" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".preview-", suffix=".png")
            try:
                with os.fdopen(fd, "wb") as f:
                    image.save(f, format="PNG")
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._previews[source_key] = str(target)
            return str(target)

    # -- labels ---------------------------------------------------------------------------------------------
    def model_info(self, view: PairView, side: str = "a") -> ModelInfo:
        info = self.model_a if side == "a" else self.model_b
        return info or ModelInfo(view.checkpoint or side.upper())

    # -- guarded entry points -------------------------------------------------------------------------------
    def _guard(self, fn: Callable[[], dict], *, where: str, clear: bool = True) -> dict:
        """Run a handler; on success clear the error notes (``clear``), on error fill the one beside the
        control that caused it (the error's ``field``, else ``where``)."""
        try:
            out = fn()
            return {**CLEAR_ERRORS, **out} if clear and out else out
        except InputError as err:
            message = f"⚠ {err}"
            name = err.field or where
        except (ValueError, OSError) as err:  # library checks (shapes, model loading) speak in one line too
            message = f"⚠ {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            name = where
        except Exception as err:  # the UI boundary: report, log the traceback, keep serving
            log.exception("inspector handler failed")
            message = f"✗ internal error ({type(err).__name__}: {err}); details in the terminal log"
            name = where
        name = name if name in ERROR_FIELDS else where
        return {"status": message, f"error:{name}": _error_html(message)}

    def _sample(self, label: str | None) -> Sample | None:
        if not label or self.samples is None:
            return None
        return self.samples.by_label(label)

    @staticmethod
    def _source_key(path: str | Path) -> tuple:
        """What identifies an image file's content for :meth:`preview_file`: path, size and mtime."""
        try:
            st = os.stat(path)
        except OSError:
            return (str(path),)
        return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)

    def _image(self, upload: str | None, sample: Sample | None) -> tuple[Image.Image, str, str]:
        """(image, where it came from, the sample id that seeds its noise)."""
        try:
            if upload:
                return open_image(upload), f"uploaded image {Path(upload).name}", NO_SAMPLE_ID
            if sample is not None:
                return open_image(sample.image), f"sample {sample.id} ({sample.image.name})", sample.id
        except InputError as err:
            err.field = err.field or ("image" if upload else "sample")
            raise
        raise InputError("no image: upload one or pick a sample", field="image")

    @staticmethod
    def _key(upload, sample: Sample | None, question, preferred, dispreferred, noise_step) -> tuple:
        return (
            upload or None,
            sample.id if sample and not upload else None,
            question or "",
            preferred or "",
            (dispreferred or "").strip() and dispreferred,
            int(noise_step),
        )

    def _run_analysis(
        self,
        upload,
        sample_label,
        question,
        preferred,
        dispreferred,
        words_text,
        alpha,
        tau,
        noise_step,
        mode,
        compare_field,
        object_key,
    ) -> dict:
        alpha, tau, noise_step = _settings(alpha, tau, noise_step)
        sample = self._sample(sample_label)
        image, source, sample_id = self._image(upload, sample)
        if not (preferred or "").strip():
            raise InputError("preferred response: empty; type the response to analyse", field="preferred")
        kwargs = dict(alpha=alpha, tau=tau, noise_step=noise_step, sample_id=sample_id)
        self._waits.seconds = 0.0
        start = time.perf_counter()
        view = self._forward(
            self.analyse_fn, image, question or "", preferred, dispreferred or None, **kwargs
        )
        view_b = (
            self._forward(self.compare_fn, image, question or "", preferred, dispreferred or None, **kwargs)
            if self.compare_fn
            else None
        )
        waited = self._waits.seconds
        took = time.perf_counter() - start - waited
        state = ViewState(
            view,
            view_b,
            source,
            sample=None if upload else sample,
            object_key=object_key or None,
            key=self._key(upload, sample, question, preferred, dispreferred, noise_step),
        )
        out = self.render_state(state, parse_words(words_text), mode, compare_field)
        n = " + ".join(str(len(a.tokens)) for a in view.analyses.values())
        queued = f", after {waited:.1f} s waiting for other users' analyses" if waited >= 0.05 else ""
        out["status"] = (
            f"✓ analysed {n} tokens of the {source} at k = {noise_step} in {took:.2f} s "
            f"(noise of seed {view.seed}, id {view.sample_id!r}, step {_step_label(view.step)}){queued}"
        )
        out["preview"] = self.preview_file(image, self._source_key(upload or sample.image))
        return out

    def analyse(
        self,
        upload,
        sample_label,
        question,
        preferred,
        dispreferred,
        words_text,
        alpha,
        tau,
        noise_step,
        mode,
        compare_field,
        object_key=None,
    ) -> dict:
        """Run the forwards for the inputs (the Analyse button)."""
        args = (upload, sample_label, question, preferred, dispreferred, words_text, alpha, tau, noise_step)
        return self._guard(
            lambda: self._run_analysis(*args, mode, compare_field, object_key), where="analyze"
        )

    def refresh(
        self,
        state: ViewState | None,
        upload,
        sample_label,
        question,
        preferred,
        dispreferred,
        words_text,
        alpha,
        tau,
        noise_step,
        mode,
        compare_field,
        object_key=None,
        where: str = "analyze",
    ) -> dict:
        """Forwards only when the image, the texts or k changed since ``state``; else re-render (a new object
        of the same probe). Nothing to do without an image."""

        def run() -> dict:
            if not upload and not sample_label:
                return {}
            _, _, k = _settings(alpha, tau, noise_step)
            sample = self._sample(sample_label)
            key = self._key(upload, sample, question, preferred, dispreferred, k)
            if state is None or state.key != key:
                args = (upload, sample_label, question, preferred, dispreferred, words_text, alpha, tau, k)
                return self._run_analysis(*args, mode, compare_field, object_key)
            fresh = replace(state, object_key=object_key or None)
            return self.render_state(fresh, parse_words(words_text), mode, compare_field)

        return self._guard(run, where=where)

    def refresh_k(self, state, *args) -> dict:
        """A new noise step k, typed or slid (errors beside the slider)."""
        return self.refresh(state, *args, where="noise-step")

    def regate(self, state: ViewState | None, words_text, alpha, tau, mode, compare_field) -> dict:
        def run() -> dict:
            if state is None:
                return {}
            a, t = _gates(alpha, tau)
            fresh = replace(
                state,
                view=regate(state.view, alpha=a, tau=t),
                view_b=regate(state.view_b, alpha=a, tau=t) if state.view_b else None,
            )
            out = self.render_state(fresh, parse_words(words_text), mode, compare_field)
            out["status"] = f"✓ gates recomputed for α = {a:g}, τ = {t:g} (no forward pass)"
            out["error:alpha"] = out["error:tau"] = ""
            return out

        return self._guard(run, where="alpha", clear=False)

    def rerender(self, state: ViewState | None, words_text, mode, compare_field) -> dict:
        return self._guard(
            lambda: self.render_state(state, parse_words(words_text), mode, compare_field) if state else {},
            where="words",
            clear=False,
        )

    # -- items, objects, filters ------------------------------------------------------------------------------
    def sample_choices(self, filter_name: str = "all", query: str | None = "") -> list[tuple[str, str]]:
        items = shown(self.samples.samples, filter_name, query) if self.samples else []
        return [(s.label, s.id) for s in items]

    def _object_choices(self, sample: Sample | None, value: str | None) -> Choices:
        options = [(o.label, o.key) for o in sample.objects] if sample else []
        return Choices(options, value if options else None)

    def pick(self, label: str | None, filter_name: str = "all") -> dict:
        """Fill the inputs from an item (the first object the filter selects, for a blind-spot item: its
        probe is the preferred text); the upload is cleared so the item's image is used."""

        def run() -> dict:
            sample = self._sample(label)
            if sample is None:
                return {}
            obj = sample.first_object(filter_name or "all")
            return {
                "upload": None,
                "question": sample.question,
                "preferred": obj.probe if obj else sample.preferred,
                "dispreferred": sample.dispreferred or "",
                "words": ", ".join(sample.hallucinated),
                "preview": self.preview_file(open_image(sample.image), self._source_key(sample.image)),
                "object": self._object_choices(sample, obj.key if obj else None),
                "show_object": obj is not None,
                "status": f"sample {sample.id} loaded; analysing…",
            }

        return self._guard(run, where="sample")

    def pick_object(self, label: str | None, object_key: str | None) -> dict:
        """Put the selected object's probe in the preferred text (a :meth:`refresh` follows)."""

        def run() -> dict:
            sample = self._sample(label)
            obj = sample.object(object_key) if sample else None
            if obj is None:
                if sample is not None and object_key:
                    raise InputError(f"sample {sample.id}: no object {object_key!r}; pick one from the list")
                return {}
            return {
                "preferred": obj.probe,
                "status": f"object {obj.word!r} ({obj.status}) of sample {sample.id}",
            }

        return self._guard(run, where="object")

    def filter_items(self, filter_name, query, current: str | None, object_key: str | None) -> dict:
        """The items the filter and search show; a hidden current item gives way to the first shown one,
        and a current object the filter does not select to the first one it does (a :meth:`refresh` follows)."""

        def run() -> dict:
            if self.samples is None:
                return {}
            name = filter_name or "all"
            options = self.sample_choices(name, query)
            ids = [value for _, value in options]
            total = len(self.samples.samples)
            count = f"{len(ids)} of {total} items shown" + (f" ({FILTERS[name]})" if name != "all" else "")
            if not ids:
                hint = ""
                if name in ("missed", "blind-spot", "type-i") and not self.samples.has_objects:
                    hint = (
                        "; this file has no blind-spot rows: open `OUT/<bench>/blindspots.jsonl` "
                        "(`uedpo-eval --blindspots`)"
                    )
                return {"sample": Choices([], None), "filter_count": f"**no item matches**{hint}"}
            current_sample = self.samples.by_label(current) if current else None
            keep = current_sample is not None and current_sample.id in ids
            value = current_sample.id if keep else ids[0]
            out: dict = {"sample": Choices(options, value), "filter_count": count}
            if not keep:
                out.update(self.pick(value, name))
                return out
            obj = current_sample.object(object_key)
            if current_sample.objects and (obj is None or not object_matches(obj, name)):
                first = current_sample.first_object(name)
                if first is not None and first is not obj:
                    out["object"] = self._object_choices(current_sample, first.key)
                    out["preferred"] = first.probe
            return out

        return self._guard(run, where="filter")

    # -- rendering ------------------------------------------------------------------------------------------
    def _comparison_outputs(self, state: ViewState, field_name: str) -> dict:
        if state.view_b is None:
            return {
                "compare_summary": "",
                "compare_overlay": "",
                "compare_overlay_dispreferred": "",
                "compare_legend": "",
                "compare_table": None,
                "show_compare_dispreferred": False,
            }
        a, b = state.view, state.view_b
        label_a, label_b = self.model_info(a, "a").label, self.model_info(b, "b").label
        comparisons = {
            name: compare_responses(a.analyses[name], b.analyses[name], label_a=label_a, label_b=label_b)
            for name in a.analyses
        }
        frames = [c.frame() for c in comparisons.values()]
        for name, frame in zip(comparisons, frames, strict=True):
            frame.insert(0, "response", name)
        flips = ", ".join(f"{name}: {c.n_flips}" for name, c in comparisons.items())
        key = {"u": "du", "delta": "ddelta", "lambda": "dlam"}[field_name]
        scale = max((abs(getattr(d, key)) for c in comparisons.values() for d in c.tokens), default=0.0)
        overlays = {
            name: render.compare_overlay_html(
                b.analyses[name],
                comparisons[name],
                field_name,
                element_id=COMPARE_OVERLAY_IDS[name],
                branch=name,
            )
            for name in comparisons
        }
        return {
            "compare_summary": f"**B − A** (same image noise)  \n**A** = `{label_a}`  \n**B** = `{label_b}`  \n"
            f"Type flips: {flips}.",
            "compare_overlay": overlays["preferred"],
            "compare_overlay_dispreferred": overlays.get("dispreferred", ""),
            "compare_legend": render.legend_html("diff", scale=scale),
            "compare_table": pd.concat(frames, ignore_index=True).round(4),
            "show_compare_dispreferred": "dispreferred" in overlays,
        }

    def _object_marks(self, state: ViewState) -> tuple:
        """(the selected object, its token indices in the preferred response, whether its probe is what was
        analysed)."""
        sample = state.sample
        obj = sample.object(state.object_key) if sample and state.object_key else None
        if obj is None:
            return None, (), False
        analysed = obj.probe == state.view.preferred_text
        indices = object_tokens([t.token for t in state.view.preferred.tokens], obj) if analysed else ()
        return obj, indices, analysed

    def _notes(self, state: ViewState, marks: tuple | None = None) -> tuple[str, str]:
        """(the object panel's HTML, the note on the analysed text) of ``state``."""
        view = state.view
        obj, indices, analysed = marks or self._object_marks(state)
        settings = {"seed": view.seed, "step": _step_label(view.step), "k": view.noise_step}
        panel = object_panel_html(obj, view.preferred, indices, probe_analysed=analysed, settings=settings)
        return panel, response_note(state.sample, view.preferred_text, view.preferred)

    def render_state(self, state: ViewState, words: Sequence[str], mode: str, compare_field: str) -> dict:
        """Every view output of an analysed pair (overlays, legends, summary, plots, tables, object panel)."""
        view = state.view
        matches, flagged = _flagged(view, words)
        obj, indices, analysed = self._object_marks(state)
        marks = {i: obj.word for i in indices} if obj else {}
        out: dict = {
            "state": state,
            "summary": render.summary_markdown(view.analyses, noise_step=view.noise_step),
        }
        for name in ("preferred", "dispreferred"):
            analysis = view.analyses.get(name)
            out[f"overlay_{name}"] = render.overlay_html(
                analysis,
                mode,
                element_id=OVERLAY_IDS[name],
                hallucinated=flagged if name == "preferred" else None,
                objects=marks if name == "preferred" else None,
            )
            out[f"legend_{name}"] = render.legend_html(mode, analysis) if analysis else ""
        out["show_dispreferred"] = view.dispreferred is not None
        out["scatter_preferred"] = figures.scatter_u_delta(view.preferred, title="preferred: u vs Δ")
        out["bars_preferred"] = figures.token_bars(view.preferred)
        out["scatter_dispreferred"] = (
            figures.scatter_u_delta(view.dispreferred, title="dispreferred: u vs Δ")
            if view.dispreferred
            else None
        )
        out["hal_table"] = export.hallucination_frame(view.preferred, words, matches) if words else None
        out["object_panel"], out["response_note"] = self._notes(state, (obj, indices, analysed))
        out["show_object"] = bool(state.sample and state.sample.objects)
        out.update(self._comparison_outputs(state, compare_field))
        return out

    # -- exports --------------------------------------------------------------------------------------------
    def _meta(self, view: PairView, side: str = "a") -> dict:
        info = self.model_info(view, side)
        return {
            "sample_id": view.sample_id,
            "checkpoint": info.checkpoint,
            "adapter": info.adapter,
            "alpha": view.alpha,
            "tau": view.tau,
            "k": view.noise_step,
            "seed": view.seed,
            "step": _step_label(view.step),
        }

    def _report_meta(self, view: PairView, source: str) -> dict:
        info = self.model_info(view, "a")
        meta = {
            "sample id": view.sample_id or "(upload)",
            "checkpoint": info.checkpoint,
            "adapter": info.adapter or "none",
            "source": source,
            "question": view.question,
            "α": f"{view.alpha:g}",
            "τ": f"{view.tau:g}",
            "k": str(view.noise_step),
            "noise space": view.noise_space,
            "seed": str(view.seed),
            "step": _step_label(view.step),
        }
        if self.compare_fn is not None:
            meta["compared with (B)"] = self.model_info(view, "b").label
        return meta

    def _write(self, texts: dict[str, str]) -> tuple[Path, list[str]]:
        folder = self.export_root / uuid.uuid4().hex[:12]
        paths = []
        for name, text in texts.items():
            atomic_write_text(folder / name, text)
            paths.append(str(folder / name))
        return folder, paths

    def export(self, state: ViewState | None, words_text) -> dict:
        """Write tokens.csv, tokens.jsonl and report.html (offline) for the current view; every token row
        carries sample id, checkpoint, adapter, α, τ, k, seed and step (B's rows too when comparing)."""

        def run() -> dict:
            if state is None:
                raise InputError("nothing to export yet; analyse a pair first", field="export")
            view, words = state.view, parse_words(words_text)
            matches, flagged = _flagged(view, words)
            frames = [export.tokens_frame(view.analyses, flagged, meta=self._meta(view, "a"))]
            if state.view_b is not None:
                frames.append(
                    export.tokens_frame(state.view_b.analyses, flagged, meta=self._meta(state.view_b, "b"))
                )
            frame = pd.concat(frames, ignore_index=True)
            figs = [figures.scatter_u_delta(view.preferred), figures.token_bars(view.preferred)]
            if view.dispreferred:
                figs.append(figures.scatter_u_delta(view.dispreferred, title="dispreferred: u vs Δ"))
            extra = (
                {"Scorer-flagged words": export.hallucination_frame(view.preferred, words, matches)}
                if words
                else {}
            )
            panel, note = self._notes(state)
            if state.sample is not None and state.sample.objects:
                extra["Blind-spot objects"] = objects_frame(
                    state.sample, {view.preferred_text: view.preferred}
                )
            notes = [_markdown_html(note), panel]
            html_text = export.report_html(
                view.analyses,
                figs,
                title="UE-DPO token inspector report",
                meta=self._report_meta(view, state.source),
                summary=render.summary_frame(view.analyses),
                flagged=flagged,
                extra_tables=extra,
                tokens=frame,
                notes=[n for n in notes if n],
            )
            folder, paths = self._write(
                {
                    "tokens.csv": export.to_csv(frame),
                    "tokens.jsonl": export.to_jsonl(frame),
                    "report.html": html_text,
                }
            )
            return {"files": paths, "status": f"✓ exported {len(frame)} tokens to {folder}"}

        return self._guard(run, where="export")

    def _probes(self, sample: Sample, filter_name: str) -> list[tuple[str, str]]:
        """(text to analyse, what it is) for one item of a batch export: each distinct probe of the objects
        the filter selects (for a blind-spot item), else the item's preferred text."""
        if not sample.objects:
            return [(sample.preferred, "response")]
        chosen = [o for o in sample.objects if object_matches(o, filter_name)] or list(sample.objects)
        probes: dict[str, list[str]] = {}
        for obj in chosen:
            probes.setdefault(obj.probe, []).append(obj.word)
        return [
            (text, "response" if text == sample.response else "probe of " + ", ".join(words))
            for text, words in probes.items()
        ]

    def export_all(self, filter_name, query, alpha, tau, noise_step) -> dict:
        """Analyse every shown sample (each probe of a blind-spot item the filter selects) with its own texts
        and flagged words, and write one tokens.csv / tokens.jsonl / report.html (and objects.csv)."""

        def run() -> dict:
            if self.samples is None:
                raise InputError("no samples file: start uedpo-inspect with --samples", field="export")
            a, t, k = _settings(alpha, tau, noise_step)
            name = filter_name or "all"
            items = shown(self.samples.samples, name, query)
            if not items:
                raise InputError("no sample is shown; change the filter or the search", field="export")
            frames, entries, overview, object_frames, skipped = [], [], [], [], []
            start = time.perf_counter()
            for sample in items:
                analysed: dict = {}
                image = None  # decoded once per item, for all its probes
                for text, what in self._probes(sample, name):
                    try:
                        if image is None:
                            image = open_image(sample.image)
                        kwargs = dict(alpha=a, tau=t, noise_step=k, sample_id=sample.id)
                        view = self._forward(
                            self.analyse_fn, image, sample.question, text, sample.dispreferred, **kwargs
                        )
                    except (InputError, ValueError, OSError) as err:
                        skipped.append(f"{sample.id} ({what}): {err}")
                        continue
                    analysed[text] = view.preferred
                    _, flagged = _flagged(view, list(sample.hallucinated))
                    objs = [o for o in sample.objects if o.probe == text]
                    marks = {
                        i: o.word
                        for o in objs
                        for i in object_tokens([x.token for x in view.preferred.tokens], o)
                    }
                    frames.append(
                        export.tokens_frame(
                            view.analyses, flagged, meta=self._meta(view), extra={"text": what}
                        )
                    )
                    entries.append(
                        export.BatchEntry(
                            heading=f"{sample.label} — {what}",
                            meta={"sample id": sample.id, "question": sample.question},
                            analyses=view.analyses,
                            flagged=flagged,
                            objects=marks,
                        )
                    )
                    overview.append(
                        {
                            "sample_id": sample.id,
                            "text": what,
                            "status": sample.status,
                            "tokens": len(view.preferred.tokens),
                            "type-i": sum(x.type == "type-i" for x in view.preferred.tokens),
                            "u > 0": sum(x.u > 0 for x in view.preferred.tokens),
                        }
                    )
                if sample.objects:
                    object_frames.append(objects_frame(sample, analysed))
            if not frames:
                raise InputError(f"no sample could be analysed; first problem: {skipped[0]}", field="export")
            took = time.perf_counter() - start
            frame = pd.concat(frames, ignore_index=True)
            first = entries[0].analyses["preferred"]
            meta = {
                "checkpoint": self.model_a.checkpoint if self.model_a else "",
                "adapter": (self.model_a.adapter if self.model_a else "") or "none",
                "filter": FILTERS[name],
                "search": query or "",
                "α": f"{first.alpha:g}",
                "τ": f"{first.tau:g}",
                "k": str(k),
                "samples": str(len(items)),
            }
            tables = (
                {"Blind-spot objects": pd.concat(object_frames, ignore_index=True)} if object_frames else {}
            )
            if skipped:
                tables["Skipped"] = pd.DataFrame({"problem": skipped})
            texts = {"tokens.csv": export.to_csv(frame), "tokens.jsonl": export.to_jsonl(frame)}
            if object_frames:
                texts["objects.csv"] = export.to_csv(tables["Blind-spot objects"])
            texts["report.html"] = export.batch_report_html(
                entries,
                title="UE-DPO token inspector: batch export",
                meta=meta,
                overview=pd.DataFrame(overview),
                extra_tables=tables,
            )
            folder, paths = self._write(texts)
            note = f"; skipped {len(skipped)}: {skipped[0]}" if skipped else ""
            return {
                "files": paths,
                "status": f"✓ exported {len(entries)} analyses of {len(items)} shown samples ({len(frame)} tokens) "
                f"to {folder} in {took:.1f} s{note}",
            }

        return self._guard(run, where="export")
