"""Exports of an inspected pair: the per-token table (CSV, JSONL) and a self-contained offline HTML report.

Pure: values in, strings out (the app writes them with :func:`uedpo.io.atomic_write_text`). The
report inlines its CSS and plotly.js (``include_plotlyjs=True``): no CDN, no external font, no remote
``<script src>`` / ``<link href>``, so it opens on an air-gapped machine.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from inspector.hallucination import WordMatch
from inspector.render import OVERLAY_CSS, legend_html, overlay_html
from uedpo.analysis import ResponseAnalysis

TOKEN_COLUMNS = [
    "response",
    "index",
    "token",
    "token_id",
    "u",
    "delta",
    "lam",
    "type",
    "gated",
    "logprob",
    "hallucinated_word",
]
# Who and how: every exported row carries them, so rows of several samples or checkpoints stay apart.
META_COLUMNS = ["sample_id", "checkpoint", "adapter", "alpha", "tau", "k", "seed", "step"]
READINGS = {
    "type-i": "blind spot (Type-I: insensitive, high u)",
    "type-ii": "language prior (Type-II: insensitive, low u)",
    "eased": "eased (dispreferred, sensitive)",
    "ungated": "visually sensitive (ungated)",
}
REPORT_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1f;
  margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table.ued-table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
table.ued-table th, table.ued-table td { border: 1px solid #dcdce4; padding: 3px 8px; text-align: left; }
table.ued-table th { background: #f4f4f8; }
.ued-meta { color: #555; font-size: 13px; }
"""


def tokens_frame(
    analyses: Mapping[str, ResponseAnalysis],
    flagged: Mapping[int, str] | None = None,
    *,
    meta: Mapping[str, object] | None = None,
    extra: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """One row per token of every response; ``flagged`` (preferred token → word) fills ``hallucinated_word``.

    ``meta`` (:data:`META_COLUMNS`: sample id, checkpoint, adapter, α, τ, k, seed, step) leads every row;
    ``extra`` columns follow the token columns.
    """
    lead = {k: (meta or {}).get(k) for k in META_COLUMNS} if meta is not None else {}
    tail = dict(extra or {})
    rows = []
    for name, analysis in analyses.items():
        marks = (flagged or {}) if name == "preferred" else {}
        for t in analysis.tokens:
            rows.append(
                {
                    **lead,
                    "response": name,
                    "index": t.index,
                    "token": t.token,
                    "token_id": t.token_id,
                    "u": t.u,
                    "delta": t.delta,
                    "lam": t.lam,
                    "type": t.type,
                    "gated": t.gated,
                    "logprob": t.logprob,
                    "hallucinated_word": marks.get(t.index, ""),
                    **tail,
                }
            )
    return pd.DataFrame(rows, columns=[*lead, *TOKEN_COLUMNS, *tail])


def to_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format=None)


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN / inf
    return value.item() if hasattr(value, "item") else value


def to_jsonl(frame: pd.DataFrame) -> str:
    lines = [
        json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False)
        for row in frame.to_dict(orient="records")
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def hallucination_frame(
    analysis: ResponseAnalysis, words: Sequence[str], matches: Sequence[WordMatch]
) -> pd.DataFrame:
    """Flagged word → its tokens → type, u, Δ and a reading ("blind spot or language prior?")."""
    rows = []
    for m in matches:
        for i in m.tokens:
            t = analysis.tokens[i]
            rows.append(
                {
                    "word": m.word,
                    "token": t.token,
                    "index": i,
                    "type": t.type,
                    "u": round(t.u, 4),
                    "delta": round(t.delta, 4),
                    "reading": READINGS.get(t.type, t.type),
                }
            )
    found = {m.word for m in matches}
    for word in dict.fromkeys(words):
        if word not in found:
            rows.append(
                {
                    "word": word,
                    "token": "",
                    "index": None,
                    "type": "",
                    "u": None,
                    "delta": None,
                    "reading": "not found among the response tokens",
                }
            )
    return pd.DataFrame(rows, columns=["word", "token", "index", "type", "u", "delta", "reading"])


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(
        index=False, escape=True, classes="ued-table", border=0, na_rep="", float_format="{:.4f}".format
    )


def report_html(
    analyses: Mapping[str, ResponseAnalysis],
    figures: Sequence[go.Figure],
    *,
    title: str,
    meta: Mapping[str, str],
    summary: pd.DataFrame,
    flagged: Mapping[int, str] | None = None,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
    tokens: pd.DataFrame | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The whole view as one offline HTML file: overlays by type and u, figures, summary, token tables.

    ``tokens``: the per-token table to show (default :func:`tokens_frame` of ``analyses``); ``notes``:
    HTML blocks (the object panel, the note on greedy text) after the meta line.
    """
    parts = [f"<h1>{html.escape(title)}</h1>", _meta_line(meta), *notes]
    parts += ["<h2>Gate thresholds</h2>", _table(summary)]
    for name, analysis in analyses.items():
        marks = flagged if name == "preferred" else None
        for mode in ("type", "u"):
            parts.append(f"<h2>{html.escape(name)} response, coloured by {mode}</h2>")
            parts.append(legend_html(mode, analysis))
            parts.append(overlay_html(analysis, mode, element_id=f"report-{name}-{mode}", hallucinated=marks))
    config = {"displaylogo": False}
    for i, fig in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=i == 0, config=config))
    for heading, frame in (extra_tables or {}).items():
        parts += [f"<h2>{html.escape(heading)}</h2>", _table(frame)]
    table = tokens if tokens is not None else tokens_frame(analyses, flagged)
    parts += ["<h2>Per-token table</h2>", _table(table)]
    return _page(title, parts)


def _meta_line(meta: Mapping[str, str]) -> str:
    return (
        "<p class='ued-meta'>"
        + " · ".join(f"<b>{html.escape(k)}</b>: {html.escape(str(v))}" for k, v in meta.items())
        + "</p>"
    )


def _page(title: str, parts: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{REPORT_CSS}{OVERLAY_CSS}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


@dataclass(frozen=True)
class BatchEntry:
    """One analysed sample (or one probe of a blind-spot item) of a batch export."""

    heading: str
    meta: Mapping[str, str]
    analyses: Mapping[str, ResponseAnalysis]
    flagged: Mapping[int, str]
    objects: Mapping[int, str]
    notes: Sequence[str] = ()


def batch_report_html(
    entries: Sequence[BatchEntry],
    *,
    title: str,
    meta: Mapping[str, str],
    overview: pd.DataFrame,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
) -> str:
    """Many samples in one offline HTML file: an overview table, then each sample's overlays (by type)."""
    parts = [f"<h1>{html.escape(title)}</h1>", _meta_line(meta), "<h2>Samples</h2>", _table(overview)]
    for heading, frame in (extra_tables or {}).items():
        parts += [f"<h2>{html.escape(heading)}</h2>", _table(frame)]
    for n, entry in enumerate(entries):
        parts += [f"<h2>{html.escape(entry.heading)}</h2>", _meta_line(entry.meta), *entry.notes]
        for name, analysis in entry.analyses.items():
            parts.append(f"<h3>{html.escape(name)} response</h3>")
            parts.append(
                overlay_html(
                    analysis,
                    "type",
                    element_id=f"batch-{n}-{name}",
                    hallucinated=entry.flagged if name == "preferred" else None,
                    objects=entry.objects if name == "preferred" else None,
                )
            )
    parts.append(legend_html("type"))
    return _page(title, parts)
