"""Pure rendering of token analyses as HTML: the coloured overlay, its legend and the gate summary.

No gradio, no torch. Every user-controlled string (tokens, words, labels) is HTML-escaped here, because
``gr.HTML`` does not sanitise. Each token is a ``span.ued-tok`` carrying its exact values as data attributes
(``data-u``, ``data-delta``, ``data-lambda``, ``data-type``, ``data-token-id``, ``data-logprob``,
``data-index``; floats as Python ``repr``, so they parse back to the same float), a ``title`` tooltip, and
``tabindex`` so a click pins a details box (CSS ``:focus``, no JavaScript). Leading whitespace stays outside
the coloured box so words read naturally but never run together.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import pandas as pd

from uedpo.analysis import ResponseAnalysis, TokenRecord

COLOR_MODES = ("type", "u", "delta", "lambda")
MODE_LABELS = {
    "type": "type",
    "u": "u (epistemic uncertainty)",
    "delta": "Δ (visual sensitivity)",
    "lambda": "λ (exploration strength)",
}
WHITE = (255, 255, 255)
# Diverging end colours (negative, positive) per continuous channel; the centre is white.
DIVERGING = {
    "u": ((49, 110, 186), (205, 60, 48)),  # grounded (u < 0) blue, blind spot (u > 0) red
    "delta": ((140, 81, 165), (31, 135, 80)),  # image hurts (Δ < 0) purple, image helps (Δ > 0) green
    "lambda": ((49, 110, 186), (226, 120, 22)),  # eased (λ < 1) blue, more pressure (λ > 1) orange
    "diff": ((49, 110, 186), (205, 60, 48)),  # B − A: lower blue, higher red
}
TYPE_COLORS = {
    "type-i": "#f08a6c",
    "type-ii": "#8db6ec",
    "eased": "#8ccf9c",
    "ungated": "#ededf2",
    "not-scored": "#ffffff",
}
TYPE_MEANINGS = {
    "type-i": "Type-I: blind spot (gated: Δ < q, and u > μ): the most extra pressure, 1 + α/2 < λ < 1 + α",
    "type-ii": "Type-II: language prior (gated: Δ < q, but u ≤ μ): a smaller boost, 1 < λ ≤ 1 + α/2",
    "eased": "eased: visually sensitive token of the dispreferred answer (Δ ≥ q): penalised less, "
    "1 − α < λ < 1",
    "ungated": "ungated: λ = 1, plain DPO weight",
    "not-scored": "not scored",
}
NAN_COLOR = "#d9d9d9"
DARK_TEXT, LIGHT_TEXT = "#1b1b1f", "#ffffff"

OVERLAY_CSS = """
.ued-overlay { white-space: pre-wrap; line-height: 2.15; font-size: 15px; color: #1b1b1f;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; padding: 10px 12px;
  border: 1px solid #d8d8e0; border-radius: 8px; background: #fff; }
.ued-tok { position: relative; cursor: pointer; outline: none; }
.ued-txt { padding: 2px 1px; border-radius: 3px; box-decoration-break: clone;
  -webkit-box-decoration-break: clone;
  box-shadow: inset 0 0 0 1px rgba(0, 0, 0, 0.06); }
.ued-tok:hover .ued-txt { box-shadow: inset 0 0 0 2px rgba(0, 0, 0, 0.45); }
.ued-tok:focus .ued-txt { box-shadow: inset 0 0 0 2px #1b1b1f; }
.ued-hal .ued-txt { text-decoration: underline wavy #c0142c; text-decoration-thickness: 2px;
  text-underline-offset: 4px; }
.ued-flip .ued-txt { outline: 2px dashed #1b1b1f; outline-offset: 1px; }
.ued-obj .ued-txt { box-shadow: inset 0 0 0 2px #6b2fb3, 0 0 0 2px rgba(107, 47, 179, 0.25); }
.ued-tok:focus::after { content: attr(data-tip); position: absolute; left: 0; top: 1.9em; z-index: 60;
  white-space: pre-wrap; width: max-content; max-width: min(40em, 86vw); background: #1b1b1f; color: #fff; font-size: 12.5px; line-height: 1.45; padding: 6px 9px;
  border-radius: 6px; box-shadow: 0 3px 10px rgba(0, 0, 0, 0.25); font-variant-numeric: tabular-nums; }
.ued-legend { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; font-size: 13px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 4px 0 8px; color: #333; }
.ued-swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px; margin-right: 5px;
  vertical-align: -2px; box-shadow: inset 0 0 0 1px rgba(0, 0, 0, 0.15); }
.ued-bar { display: inline-block; width: 180px; height: 12px; border-radius: 3px; vertical-align: -1px;
  margin: 0 6px; box-shadow: inset 0 0 0 1px rgba(0, 0, 0, 0.15); }
.ued-caption { color: #555; font-size: 12.5px; }
.ued-empty { color: #777; font-style: italic; }
.ued-panel { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 13.5px;
  color: #1b1b1f; border: 1px solid #d8d8e0; border-radius: 8px; background: #fff; padding: 10px 12px; }
.ued-panel h4 { margin: 0 0 6px; font-size: 15px; }
.ued-panel dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 10px; margin: 6px 0; }
.ued-panel dt { color: #555; } .ued-panel dd { margin: 0; font-variant-numeric: tabular-nums; }
.ued-panel .ued-probe { white-space: pre-wrap; background: #f6f6f9; border-radius: 6px; padding: 6px 8px;
  margin: 4px 0 0; font-size: 13px; }
.ued-probe mark { background: #e7dcf7; color: inherit; box-shadow: inset 0 0 0 1px #6b2fb3; border-radius: 3px; }
.ued-verdict { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 12.5px; }
.ued-verdict-blind-spot, .ued-verdict-prior-driven { background: #fbe1da; color: #8f2a12; }
.ued-verdict-seen, .ued-verdict-image-driven { background: #dcefe1; color: #1f5e32; }
.ued-muted { color: #666; font-size: 12.5px; }
.ued-warn { color: #8f2a12; }
"""


# -- colours -----------------------------------------------------------------------------------------------
def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in rgb)


def diverging_rgb(
    value: float, scale: float, negative: Sequence[int], positive: Sequence[int]
) -> tuple[float, ...]:
    """White at 0, ``positive`` at ``+scale`` and beyond, ``negative`` at ``-scale`` and below (linear)."""
    t = 0.0 if scale <= 0 else max(-1.0, min(1.0, value / scale))
    end = positive if t >= 0 else negative
    return tuple(w + (e - w) * abs(t) for w, e in zip(WHITE, end, strict=True))


def diverging_color(value: float, scale: float, channel: str) -> str:
    """Hex colour of ``value`` on the ``channel``'s diverging scale (grey for NaN / inf)."""
    if not math.isfinite(value):
        return NAN_COLOR
    negative, positive = DIVERGING[channel]
    return _hex(diverging_rgb(value, scale, negative, positive))


def text_color(background: str) -> str:
    """Dark text on light backgrounds, white text on dark ones (WCAG relative luminance)."""
    rgb = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return DARK_TEXT if luminance > 0.22 else LIGHT_TEXT


def _max_abs(values: Sequence[float]) -> float:
    finite = [abs(v) for v in values if math.isfinite(v)]
    return max(finite, default=0.0)


def channel_value(token: TokenRecord, mode: str) -> float:
    """The number a continuous mode colours by (λ centred on 1)."""
    return {"u": token.u, "delta": token.delta, "lambda": token.lam - 1.0}[mode]


def mode_scale(analysis: ResponseAnalysis, mode: str) -> float:
    """Half-width of the colour scale: max |value| in the response (α for λ: its largest deviation)."""
    if mode == "lambda":
        return analysis.alpha
    return _max_abs([channel_value(t, mode) for t in analysis.tokens])


def token_color(token: TokenRecord, mode: str, scale: float) -> str:
    if mode == "type":
        return TYPE_COLORS.get(token.type, NAN_COLOR)
    if mode not in ("u", "delta", "lambda"):
        raise ValueError(f"colour mode: expected one of {COLOR_MODES}, got {mode!r}")
    return diverging_color(channel_value(token, mode), scale, mode)


# -- tokens ------------------------------------------------------------------------------------------------
def fmt(value: float) -> str:
    """Exact float for data attributes: ``repr`` round-trips; NaN and inf as ``nan`` / ``inf`` / ``-inf``."""
    return repr(float(value))


def type_reading(token: TokenRecord, alpha: float | None = None) -> str:
    """What the token's type means, with its λ and the range the type's λ lies in for this α."""
    lam = token.lam
    if alpha is None or token.type not in ("type-i", "type-ii", "eased"):
        return TYPE_MEANINGS.get(token.type, token.type)
    half, full = 1 + alpha / 2, 1 + alpha
    if token.type == "type-i":
        return (
            f"Type-I blind spot (gated: Δ < q, and u > μ): λ = {lam:.3f}, {100 * (lam - 1):+.1f}% weight; "
            f"Type-I λ lies in ({half:.3f}, {full:.3f}), the most extra pressure"
        )
    if token.type == "type-ii":
        return (
            f"Type-II language prior (gated: Δ < q, but u ≤ μ): λ = {lam:.3f}, boosted {100 * (lam - 1):+.1f}%; "
            f"Type-II λ lies in (1, {half:.3f}], less than a Type-I token's ({half:.3f}, {full:.3f})"
        )
    return (
        f"eased (dispreferred, gated: Δ ≥ q): λ = {lam:.3f}, penalised {100 * (1 - lam):.1f}% less; "
        f"eased λ lies in ({1 - alpha:.3f}, 1)"
    )


def tooltip(token: TokenRecord, extra: str = "", *, alpha: float | None = None) -> str:
    lines = [
        f"token {token.token!r}  (#{token.index}, id {token.token_id})",
        f"u = {token.u:+.4f}    Δ = {token.delta:+.4f}",
        f"λ = {token.lam:.4f}    log p = {token.logprob:.4f}",
        type_reading(token, alpha),
    ]
    return "\n".join(lines + ([extra] if extra else []))


def _display_text(text: str) -> tuple[str, str]:
    """(leading whitespace, visible rest); a newline shows as ↵ and still breaks the line."""
    body = text.lstrip(" \t")
    if not body:  # whitespace-only or empty token: keep it hoverable
        return "", text if text else "∅"
    return text[: len(text) - len(body)], body.replace("\n", "↵\n")


def token_span(
    token: TokenRecord,
    background: str,
    *,
    word: str | None = None,
    flipped: bool = False,
    extra_attrs: Mapping[str, str] | None = None,
    extra_tip: str = "",
    alpha: float | None = None,
    object_word: str | None = None,
) -> str:
    """One token as ``<span class="ued-tok" data-...><lead ws><span class="ued-txt">text</span></span>``.

    ``word``: the scorer-flagged word it belongs to (``ued-hal``, ``data-hallucinated``); ``object_word``: the
    selected blind-spot object it belongs to (``ued-obj``, ``data-object``).
    """
    classes = (
        ["ued-tok"]
        + (["ued-hal"] if word is not None else [])
        + (["ued-obj"] if object_word is not None else [])
        + (["ued-flip"] if flipped else [])
    )
    attrs = {
        "data-index": str(token.index),
        "data-token-id": str(token.token_id),
        "data-token": token.token,
        "data-u": fmt(token.u),
        "data-delta": fmt(token.delta),
        "data-lambda": fmt(token.lam),
        "data-type": token.type,
        "data-logprob": fmt(token.logprob),
    }
    notes = [extra_tip] if extra_tip else []
    if word:
        notes.append(f"flagged by the scorer as hallucinated: {word!r}")
    if object_word:
        notes.append(f"token of the selected object {object_word!r}")
    tip = tooltip(token, "\n".join(notes), alpha=alpha)
    if word is not None:
        attrs.update({"data-hallucinated": "true", "data-word": word})
    if object_word is not None:
        attrs["data-object"] = object_word
    attrs.update(extra_attrs or {})
    attrs.update({"title": tip, "data-tip": tip, "tabindex": "0"})
    rendered = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    lead, body = _display_text(token.token)
    style = f"background:{background};color:{text_color(background)}"
    return (
        f'<span class="{" ".join(classes)}" {rendered}>{html.escape(lead)}'
        f'<span class="ued-txt" style="{style}">{html.escape(body)}</span></span>'
    )


def overlay_html(
    analysis: ResponseAnalysis | None,
    mode: str,
    *,
    element_id: str,
    hallucinated: Mapping[int, str] | None = None,
    objects: Mapping[int, str] | None = None,
    empty: str = "no response given",
) -> str:
    """The response's tokens coloured by ``mode`` inside ``<div id=element_id class="ued-overlay">``.

    ``hallucinated`` / ``objects``: token index → the flagged word / the selected object it belongs to.
    """
    if mode not in COLOR_MODES:
        raise ValueError(f"colour mode: expected one of {COLOR_MODES}, got {mode!r}")
    if analysis is None:
        return f'<div id="{html.escape(element_id)}" class="ued-overlay ued-empty">{html.escape(empty)}</div>'
    scale = mode_scale(analysis, mode) if mode != "type" else 0.0
    flagged, marked = hallucinated or {}, objects or {}
    spans = "".join(
        token_span(
            t,
            token_color(t, mode, scale),
            word=flagged.get(t.index),
            alpha=analysis.alpha,
            object_word=marked.get(t.index),
        )
        for t in analysis.tokens
    )
    return (
        f'<div id="{html.escape(element_id)}" class="ued-overlay" data-mode="{html.escape(mode)}" '
        f'data-branch="{"preferred" if analysis.preferred else "dispreferred"}">{spans}</div>'
    )


# -- legend and summary ------------------------------------------------------------------------------------
def _gradient(channel: str) -> str:
    negative, positive = DIVERGING[channel]
    return f"linear-gradient(90deg, {_hex(negative)}, #ffffff, {_hex(positive)})"


CAPTIONS = {
    "u": "u > 0: the clear image does not beat the language-prior guess (blind spot); u < 0: grounded",
    "delta": "Δ > 0: the token's logit drops when the image is blurred (visually sensitive)",
    "lambda": "λ > 1: more pressure on a preferred token; λ < 1: a dispreferred token penalised less",
    "diff": "difference B − A",
}


def legend_html(mode: str, analysis: ResponseAnalysis | None = None, *, scale: float | None = None) -> str:
    """Swatches with counts (type) or the diverging bar with its end values (u, Δ, λ, diff)."""
    if mode == "type":
        counts: dict[str, int] = {}
        for t in analysis.tokens if analysis else ():
            counts[t.type] = counts.get(t.type, 0) + 1
        items = [
            f'<span title="{html.escape(TYPE_MEANINGS[name])}"><span class="ued-swatch" '
            f'style="background:{TYPE_COLORS[name]}"></span>{name} ({counts.get(name, 0)})</span>'
            for name in ("type-i", "type-ii", "eased", "ungated")
        ]
        items.append(
            '<span><span class="ued-txt ued-hal-key" style="text-decoration: underline wavy #c0142c">'
            "word</span> flagged by AMBER/CHAIR</span>"
        )
        return f'<div class="ued-legend">{"".join(items)}</div>'
    if scale is None:
        scale = mode_scale(analysis, mode) if analysis is not None else 0.0
    center = 1.0 if mode == "lambda" else 0.0
    low, high = center - scale, center + scale
    channel = "diff" if mode.startswith("diff") else mode
    return (
        f'<div class="ued-legend"><span>{low:+.3f}'
        f'<span class="ued-bar" style="background:{_gradient(channel)}">'
        f'</span>{high:+.3f}</span><span class="ued-caption">{html.escape(CAPTIONS[channel])}</span></div>'
    )


def summary_frame(analyses: Mapping[str, ResponseAnalysis]) -> pd.DataFrame:
    """Per response: the gate threshold q, μ (the Type-I/II split), ς and the token counts per type."""
    rows = []
    for name, a in analyses.items():
        rows.append(
            {
                "response": name,
                "gate": "Δ < q_τ" if a.preferred else "Δ ≥ q_{1−τ}",
                "q": a.threshold,
                "μ": a.mu,
                "ς": a.sigma,
                "gated": a.n_gated,
                "type-i": sum(t.type == "type-i" for t in a.tokens),
                "type-ii": sum(t.type == "type-ii" for t in a.tokens),
                "eased": sum(t.type == "eased" for t in a.tokens),
                "tokens": len(a.tokens),
            }
        )
    return pd.DataFrame(rows)


def summary_markdown(analyses: Mapping[str, ResponseAnalysis], *, noise_step: int) -> str:
    """:func:`summary_frame` as a Markdown table, with α, τ and k underneath."""
    frame = summary_frame(analyses)
    first = next(iter(analyses.values()))
    table = frame.to_markdown(index=False, floatfmt=".4f")
    return f"{table}\n\nα = {first.alpha:g} · τ = {first.tau:g} · noise step k = {noise_step}"


def compare_overlay_html(
    b: ResponseAnalysis, comparison, field: str, *, element_id: str, branch: str = "preferred"
) -> str:
    """Checkpoint B's tokens coloured by the B − A difference of ``field`` (u, delta or lambda).

    Each span also carries ``data-du``, ``data-ddelta``, ``data-dlambda``, ``data-type-a`` and
    ``data-flipped``; type flips get a dashed outline.
    """
    key = {"u": "du", "delta": "ddelta", "lambda": "dlam"}.get(field)
    if key is None:
        raise ValueError(f"compare field: expected u, delta or lambda, got {field!r}")
    scale = _max_abs([getattr(d, key) for d in comparison.tokens])
    spans = []
    for token, diff in zip(b.tokens, comparison.tokens, strict=True):
        extra = {
            "data-du": fmt(diff.du),
            "data-ddelta": fmt(diff.ddelta),
            "data-dlambda": fmt(diff.dlam),
            "data-type-a": diff.type_a,
            "data-flipped": "true" if diff.flipped else "false",
        }
        tip = (
            f"{comparison.label_b} − {comparison.label_a}: du = {diff.du:+.4f}, dΔ = {diff.ddelta:+.4f}, "
            f"dλ = {diff.dlam:+.4f}; type {diff.type_a} → {diff.type_b}"
        )
        spans.append(
            token_span(
                token,
                diverging_color(getattr(diff, key), scale, "diff"),
                flipped=diff.flipped,
                extra_attrs=extra,
                extra_tip=tip,
                alpha=b.alpha,
            )
        )
    return (
        f'<div id="{html.escape(element_id)}" class="ued-overlay" data-mode="diff-{html.escape(field)}" '
        f'data-branch="{html.escape(branch)}">{"".join(spans)}</div>'
    )
