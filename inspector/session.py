"""What the app's events do, without gradio: each handler returns ``{output name: value}``.

The Gradio layer (:mod:`inspector.app`) only maps these names to components; names a handler leaves out keep
their current value. Every handler turns bad input into a one-line status message and never raises, so the app
keeps serving after any error.

The noise of an analysis is the trainer's (:mod:`inspector.analysis`): the analysis function is called with
the ``sample_id`` of the picked samples row (its ``id`` field), or the empty id for an uploaded image; the run
seed and step are bound into it (``uedpo-inspect --seed S --step N``).

Handlers and their cost: :meth:`InspectorSession.analyse` (forwards; also for a new noise step k),
:meth:`InspectorSession.regate` (α / τ: gates only, no forward), :meth:`InspectorSession.rerender`
(colour mode), :meth:`InspectorSession.pick` (fill the inputs from a samples row),
:meth:`InspectorSession.export`.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from evaluation.results import atomic_write_text
from inspector import export, figures, render
from inspector.analysis import NO_SAMPLE_ID, PairView, regate
from inspector.compare import compare_responses
from inspector.errors import InputError
from inspector.hallucination import flagged_tokens, match_words
from inspector.images import open_image
from inspector.samples import SampleFile

log = logging.getLogger(__name__)

# (image, question, preferred, dispreferred, *, alpha, tau, noise_step, sample_id) -> PairView
AnalyseFn = Callable[..., PairView]
OVERLAY_IDS = {"preferred": "token-overlay", "dispreferred": "token-overlay-dispreferred"}
COMPARE_OVERLAY_ID = "token-overlay-compare"


@dataclass(frozen=True)
class ViewState:
    """Per-browser-session state: the analysed pair under checkpoint A (and B when comparing)."""

    view: PairView
    view_b: PairView | None = None
    source: str = ""


def _step_label(step: int | None) -> str:
    return "fixed" if step is None else str(step)


def parse_words(text: str | None) -> list[str]:
    """Comma- or newline-separated flagged words, stripped, empty ones dropped."""
    return [w.strip() for w in (text or "").replace("\n", ",").split(",") if w.strip()]


def _flagged(view: PairView, words: Sequence[str]):
    matches = match_words([t.token for t in view.preferred.tokens], words) if words else []
    return matches, flagged_tokens(matches)


def _comparison_outputs(state: ViewState, field: str) -> dict:
    if state.view_b is None:
        return {"compare_summary": "", "compare_overlay": "", "compare_legend": "", "compare_table": None}
    a, b = state.view, state.view_b
    label_a, label_b = a.checkpoint or "A", b.checkpoint or "B"
    comparisons = {
        name: compare_responses(a.analyses[name], b.analyses[name], label_a=label_a, label_b=label_b)
        for name in a.analyses
    }
    pref = comparisons["preferred"]
    frames = [c.frame().assign(response=name) for name, c in comparisons.items()]
    flips = ", ".join(f"{name}: {c.n_flips}" for name, c in comparisons.items())
    key = {"u": "du", "delta": "ddelta", "lambda": "dlam"}[field]
    scale = max((abs(getattr(d, key)) for d in pref.tokens), default=0.0)
    return {
        "compare_summary": f"**B − A** with A = `{label_a}`, B = `{label_b}` (same image noise). "
        f"Type flips: {flips}.",
        "compare_overlay": render.compare_overlay_html(
            b.preferred, pref, field, element_id=COMPARE_OVERLAY_ID
        ),
        "compare_legend": render.legend_html("diff", scale=scale),
        "compare_table": pd.concat(frames, ignore_index=True).round(4),
    }


def render_state(state: ViewState, words: Sequence[str], mode: str, compare_field: str) -> dict:
    """Every view output of an analysed pair (overlays, legends, summary, plots, tables)."""
    view = state.view
    matches, flagged = _flagged(view, words)
    out: dict = {
        "state": state,
        "summary": render.summary_markdown(view.analyses, noise_step=view.noise_step),
    }
    for name in ("preferred", "dispreferred"):
        analysis = view.analyses.get(name)
        marks = flagged if name == "preferred" else None
        out[f"overlay_{name}"] = render.overlay_html(
            analysis, mode, element_id=OVERLAY_IDS[name], hallucinated=marks
        )
        out[f"legend_{name}"] = render.legend_html(mode, analysis) if analysis else ""
    out["scatter_preferred"] = figures.scatter_u_delta(view.preferred, title="preferred: u vs Δ")
    out["bars_preferred"] = figures.token_bars(view.preferred)
    out["scatter_dispreferred"] = (
        figures.scatter_u_delta(view.dispreferred, title="dispreferred: u vs Δ")
        if view.dispreferred
        else None
    )
    out["hal_table"] = export.hallucination_frame(view.preferred, words, matches) if words else None
    out.update(_comparison_outputs(state, compare_field))
    return out


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
    ) -> None:
        self.analyse_fn = analyse_fn
        self.compare_fn = compare_fn
        self.samples = samples
        self.export_root = Path(export_root or tempfile.mkdtemp(prefix="uedpo-inspect-"))

    # -- guarded entry points -------------------------------------------------------------------------------
    def _guard(self, fn: Callable[[], dict]) -> dict:
        try:
            return fn()
        except InputError as err:
            return {"status": f"⚠ {err}"}
        except (ValueError, OSError) as err:  # library checks (shapes, model loading) speak in one line too
            return {"status": f"⚠ {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
        except Exception as err:  # the UI boundary: report, log the traceback, keep serving
            log.exception("inspector handler failed")
            return {"status": f"✗ internal error ({type(err).__name__}: {err}); details in the terminal log"}

    def _image(self, upload: str | None, sample_label: str | None) -> tuple[Image.Image, str, str]:
        """(image, where it came from, the sample id that seeds its noise)."""
        if upload:
            return open_image(upload), f"uploaded image {Path(upload).name}", NO_SAMPLE_ID
        if sample_label and self.samples is not None:
            sample = self.samples.by_label(sample_label)
            return open_image(sample.image), f"sample {sample.id} ({sample.image.name})", sample.id
        raise InputError("no image: upload one or pick a sample")

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
    ) -> dict:
        def run() -> dict:
            image, source, sample_id = self._image(upload, sample_label)
            if not (preferred or "").strip():
                raise InputError("preferred response: empty; type the response to analyse")
            kwargs = dict(alpha=float(alpha), tau=float(tau), noise_step=int(noise_step), sample_id=sample_id)
            start = time.perf_counter()
            view = self.analyse_fn(image, question or "", preferred, dispreferred or None, **kwargs)
            view_b = (
                self.compare_fn(image, question or "", preferred, dispreferred or None, **kwargs)
                if self.compare_fn
                else None
            )
            took = time.perf_counter() - start
            out = render_state(ViewState(view, view_b, source), parse_words(words_text), mode, compare_field)
            n = " + ".join(str(len(a.tokens)) for a in view.analyses.values())
            out["status"] = (
                f"✓ analysed {n} tokens of the {source} at k = {int(noise_step)} in {took:.2f} s "
                f"(noise of seed {view.seed}, id {view.sample_id!r}, step {_step_label(view.step)})"
            )
            out["preview"] = image
            return out

        return self._guard(run)

    def regate(self, state: ViewState | None, words_text, alpha, tau, mode, compare_field) -> dict:
        def run() -> dict:
            if state is None:
                return {}
            fresh = ViewState(
                regate(state.view, alpha=float(alpha), tau=float(tau)),
                regate(state.view_b, alpha=float(alpha), tau=float(tau)) if state.view_b else None,
                state.source,
            )
            out = render_state(fresh, parse_words(words_text), mode, compare_field)
            out["status"] = (
                f"✓ gates recomputed for α = {float(alpha):g}, τ = {float(tau):g} (no forward pass)"
            )
            return out

        return self._guard(run)

    def rerender(self, state: ViewState | None, words_text, mode, compare_field) -> dict:
        return self._guard(
            lambda: render_state(state, parse_words(words_text), mode, compare_field) if state else {}
        )

    def pick(self, label: str | None) -> dict:
        """Fill the inputs from a samples row; the upload is cleared so the sample's image is used."""

        def run() -> dict:
            if not label or self.samples is None:
                return {}
            sample = self.samples.by_label(label)
            return {
                "upload": None,
                "question": sample.question,
                "preferred": sample.preferred,
                "dispreferred": sample.dispreferred or "",
                "words": ", ".join(sample.hallucinated),
                "preview": open_image(sample.image),
                "status": f"sample {sample.id} loaded; analysing…",
            }

        return self._guard(run)

    def export(self, state: ViewState | None, words_text) -> dict:
        """Write tokens.csv, tokens.jsonl and report.html (offline) for the current view."""

        def run() -> dict:
            if state is None:
                raise InputError("nothing to export yet; analyse a pair first")
            view, words = state.view, parse_words(words_text)
            matches, flagged = _flagged(view, words)
            frame = export.tokens_frame(view.analyses, flagged)
            figs = [figures.scatter_u_delta(view.preferred), figures.token_bars(view.preferred)]
            if view.dispreferred:
                figs.append(figures.scatter_u_delta(view.dispreferred, title="dispreferred: u vs Δ"))
            extra = (
                {"Scorer-flagged words": export.hallucination_frame(view.preferred, words, matches)}
                if words
                else {}
            )
            meta = {
                "checkpoint": view.checkpoint or "?",
                "source": state.source,
                "question": view.question,
                "α": f"{view.alpha:g}",
                "τ": f"{view.tau:g}",
                "k": str(view.noise_step),
                "noise space": view.noise_space,
                "seed": str(view.seed),
                "step": _step_label(view.step),
                "sample id": view.sample_id,
            }
            html_text = export.report_html(
                view.analyses,
                figs,
                title="UE-DPO token inspector report",
                meta=meta,
                summary=render.summary_frame(view.analyses),
                flagged=flagged,
                extra_tables=extra,
            )
            folder = self.export_root / uuid.uuid4().hex[:12]
            paths = [folder / "tokens.csv", folder / "tokens.jsonl", folder / "report.html"]
            for path, text in zip(
                paths, (export.to_csv(frame), export.to_jsonl(frame), html_text), strict=True
            ):
                atomic_write_text(path, text)
            return {"files": [str(p) for p in paths], "status": f"✓ exported {len(frame)} tokens to {folder}"}

        return self._guard(run)
