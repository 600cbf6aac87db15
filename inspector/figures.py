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
import plotly.io as pio

from inspector.render import TYPE_COLORS, TYPE_MEANINGS
from uedpo.analysis import ResponseAnalysis

TYPE_ORDER = ("type-i", "type-ii", "eased", "ungated")
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color="#1b1b1f")
# Marker outlines in the saturated version of each type colour, so pastel markers stay visible on white.
TYPE_EDGES = {"type-i": "#b83a1c", "type-ii": "#2f6bbf", "eased": "#2f8a4a", "ungated": "#8a8a95"}
# plotly_white's layout for 2-D axes, made once: ``template="plotly_white"`` copies and validates the whole
# template (every trace type, polar, geo, 3-D scenes) for each figure, 15 ms of a 25 ms figure. The traces set
# their own marker colours and outlines, so the template's trace defaults are not needed.
TEMPLATE = go.layout.Template(
    layout={
        k: v
        for k, v in pio.templates["plotly_white"].layout.to_plotly_json().items()
        if k not in ("polar", "ternary", "geo", "scene", "coloraxis", "colorscale")
    }
)


def _layout(title: str, height: int, **extra) -> dict:
    return dict(
        title=dict(text=html.escape(title), x=0.01, font=dict(size=14)),
        height=height,
        font=FONT,
        template=TEMPLATE,
        margin=dict(l=55, r=20, t=45, b=45),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        **extra,
    )


def _line(axis: str, value: float, along: str, line: dict) -> dict:
    """A line at ``axis`` = ``value`` across the whole ``along`` axis (what ``add_hline`` / ``add_vline``
    draw, without their per-call relayout: a figure is built in one go)."""
    if axis.startswith("x"):
        return dict(type="line", xref=axis, x0=value, x1=value, yref=f"{along} domain", y0=0, y1=1, line=line)
    return dict(type="line", yref=axis, y0=value, y1=value, xref=f"{along} domain", x0=0, x1=1, line=line)


def scatter_u_delta(analysis: ResponseAnalysis, *, title: str = "") -> go.Figure:
    """u (y) against Δ (x), one trace per token type, with the q and μ lines."""
    traces = []
    for kind in TYPE_ORDER:
        tokens = [t for t in analysis.tokens if t.type == kind]
        if not tokens:
            continue
        traces.append(
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
    shapes, notes = [], []
    q_name = "q_τ" if analysis.preferred else "q_{1−τ}"
    if math.isfinite(analysis.threshold):
        shapes.append(_line("x", analysis.threshold, "y", dict(color="#444", dash="dash", width=1.4)))
        notes.append(
            dict(
                text=f"{q_name} = {analysis.threshold:.3f}",
                xref="x",
                x=analysis.threshold,
                yref="y domain",
                y=1,
                xanchor="center",
                yanchor="bottom",
                showarrow=False,
            )
        )
    if analysis.n_gated and math.isfinite(analysis.mu):
        shapes.append(_line("y", analysis.mu, "x", dict(color="#b83a1c", dash="dot", width=1.4)))
        notes.append(
            dict(
                text=f"μ = {analysis.mu:.3f}",
                xref="x domain",
                x=0,
                yref="y",
                y=analysis.mu,
                xanchor="left",
                yanchor="bottom",
                showarrow=False,
            )
        )
    side = "left of q: gated; above μ: Type-I" if analysis.preferred else "right of q: gated (eased)"
    layout = _layout(
        title or f"u vs Δ ({side})",
        380,
        xaxis=dict(title=dict(text="Δ  (visual sensitivity: clear − blurred logit)"), zeroline=True),
        yaxis=dict(title=dict(text="u  (epistemic uncertainty)"), zeroline=True),
        shapes=shapes,
        annotations=notes,
    )
    return go.Figure(data=traces, layout=layout)


def token_bars(analysis: ResponseAnalysis, *, title: str = "") -> go.Figure:
    """Two stacked bar charts (u above, Δ below) over token indices sharing the x axis, bars coloured by
    type; the layout of ``make_subplots(rows=2, shared_xaxes=True)`` (x / y on top, x2 / y2 below)."""
    index = [t.index for t in analysis.tokens]
    colors = [TYPE_COLORS.get(t.type, "#ccc") for t in analysis.tokens]
    edges = [TYPE_EDGES.get(t.type, "#888") for t in analysis.tokens]
    labels = [html.escape(t.token.strip() or repr(t.token)) for t in analysis.tokens]
    traces = [
        go.Bar(
            x=index,
            y=values,
            xaxis=xaxis,
            yaxis=yaxis,
            name=name,
            marker=dict(color=colors, line=dict(color=edges, width=1)),
            text=labels,
            showlegend=False,
            textposition="none",
            hovertemplate=f"%{{text}} (#%{{x}})<br>{name} = %{{y:.4f}}<extra></extra>",
        )
        for name, values, xaxis, yaxis in (
            ("u", [t.u for t in analysis.tokens], "x", "y"),
            ("Δ", [t.delta for t in analysis.tokens], "x2", "y2"),
        )
    ]
    shapes = []
    if math.isfinite(analysis.threshold):
        shapes.append(_line("y2", analysis.threshold, "x2", dict(color="#444", dash="dash", width=1.2)))
    if analysis.n_gated and math.isfinite(analysis.mu):
        shapes.append(_line("y", analysis.mu, "x", dict(color="#b83a1c", dash="dot", width=1.2)))
    top, bottom = [0.54, 1.0], [0.0, 0.46]  # make_subplots' domains for vertical_spacing=0.08
    titles = [
        dict(
            text=text,
            font=dict(size=16),  # make_subplots' subplot titles
            xref="paper",
            x=0.5,
            yref="paper",
            y=y,
            xanchor="center",
            yanchor="bottom",
            showarrow=False,
        )
        for text, y in (("u", top[1]), ("Δ", bottom[1]))
    ]
    layout = _layout(
        title or "per-token u and Δ (dashed: gate threshold q; dotted: μ)",
        420,
        xaxis=dict(anchor="y", domain=[0.0, 1.0], matches="x2", showticklabels=False),
        yaxis=dict(anchor="x", domain=top),
        xaxis2=dict(
            anchor="y2", domain=[0.0, 1.0], tickmode="array", tickvals=index, ticktext=labels, tickangle=-60
        ),
        yaxis2=dict(anchor="x2", domain=bottom),
        shapes=shapes,
        annotations=titles,
    )
    return go.Figure(data=traces, layout=layout)
