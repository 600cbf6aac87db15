"""Plotly figures of one response's tokens (pure: analyses in, ``go.Figure`` out).

* :func:`scatter_u_delta`: u against Δ for every token, coloured by type, with the gate threshold as a
  vertical line (Δ = q) and the Type-I / Type-II split as a horizontal line (u = μ).
* :func:`token_bars`: per-token bars of u and Δ. The x axis is the token *index* with the token text as tick
  labels, because a categorical axis would merge repeated tokens (two "a" into one bar).

Token text is HTML-escaped: plotly renders a subset of HTML in labels and would swallow ``<unk>``.
"""

from __future__ import annotations

import html
import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from inspector.render import TYPE_COLORS, TYPE_MEANINGS
from uedpo.analysis import ResponseAnalysis

TYPE_ORDER = ("type-i", "type-ii", "eased", "ungated")
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color="#1b1b1f")
# Marker outlines in the saturated version of each type colour, so pastel markers stay visible on white.
TYPE_EDGES = {"type-i": "#b83a1c", "type-ii": "#2f6bbf", "eased": "#2f8a4a", "ungated": "#8a8a95"}


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=html.escape(title), x=0.01, font=dict(size=14)),
        height=height,
        font=FONT,
        template="plotly_white",
        margin=dict(l=55, r=20, t=45, b=45),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig


def scatter_u_delta(analysis: ResponseAnalysis, *, title: str = "") -> go.Figure:
    """u (y) against Δ (x), one trace per token type, with the q and μ lines."""
    fig = go.Figure()
    for kind in TYPE_ORDER:
        tokens = [t for t in analysis.tokens if t.type == kind]
        if not tokens:
            continue
        fig.add_trace(
            go.Scatter(
                x=[t.delta for t in tokens],
                y=[t.u for t in tokens],
                mode="markers",
                name=kind,
                marker=dict(size=10, color=TYPE_COLORS[kind], line=dict(width=1.2, color=TYPE_EDGES[kind])),
                text=[html.escape(repr(t.token)) for t in tokens],
                customdata=[[t.index, t.lam] for t in tokens],
                hovertemplate="%{text} (#%{customdata[0]})<br>Δ = %{x:.4f}<br>u = %{y:.4f}"
                "<br>λ = %{customdata[1]:.4f}"
                f"<extra>{html.escape(TYPE_MEANINGS[kind].split(':')[0])}</extra>",
            )
        )
    q_name = "q_τ" if analysis.preferred else "q_{1−τ}"
    if math.isfinite(analysis.threshold):
        fig.add_vline(
            x=analysis.threshold,
            line=dict(color="#444", dash="dash", width=1.4),
            annotation_text=f"{q_name} = {analysis.threshold:.3f}",
            annotation_position="top",
        )
    if analysis.n_gated and math.isfinite(analysis.mu):
        fig.add_hline(
            y=analysis.mu,
            line=dict(color="#b83a1c", dash="dot", width=1.4),
            annotation_text=f"μ = {analysis.mu:.3f}",
            annotation_position="top left",
        )
    fig.update_xaxes(title_text="Δ  (visual sensitivity: clear − blurred logit)", zeroline=True)
    fig.update_yaxes(title_text="u  (epistemic uncertainty)", zeroline=True)
    side = "left of q: gated; above μ: Type-I" if analysis.preferred else "right of q: gated (eased)"
    return _layout(fig, title or f"u vs Δ ({side})", 380)


def token_bars(analysis: ResponseAnalysis, *, title: str = "") -> go.Figure:
    """Two stacked bar charts (u, Δ) over token indices, bars coloured by type."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=("u", "Δ"))
    index = [t.index for t in analysis.tokens]
    colors = [TYPE_COLORS.get(t.type, "#ccc") for t in analysis.tokens]
    edges = [TYPE_EDGES.get(t.type, "#888") for t in analysis.tokens]
    labels = [html.escape(t.token.strip() or repr(t.token)) for t in analysis.tokens]
    for row, name, values in (
        (1, "u", [t.u for t in analysis.tokens]),
        (2, "Δ", [t.delta for t in analysis.tokens]),
    ):
        fig.add_trace(
            go.Bar(
                x=index,
                y=values,
                name=name,
                marker=dict(color=colors, line=dict(color=edges, width=1)),
                text=labels,
                showlegend=False,
                textposition="none",
                hovertemplate=f"%{{text}} (#%{{x}})<br>{name} = %{{y:.4f}}<extra></extra>",
            ),
            row=row,
            col=1,
        )
    if math.isfinite(analysis.threshold):
        fig.add_hline(y=analysis.threshold, line=dict(color="#444", dash="dash", width=1.2), row=2, col=1)
    if analysis.n_gated and math.isfinite(analysis.mu):
        fig.add_hline(y=analysis.mu, line=dict(color="#b83a1c", dash="dot", width=1.2), row=1, col=1)
    fig.update_xaxes(tickmode="array", tickvals=index, ticktext=labels, tickangle=-60, row=2, col=1)
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    return _layout(fig, title or "per-token u and Δ (dashed: gate threshold q; dotted: μ)", 420)
