"""Pure rendering of the inspector: overlay attributes, colours, escaping, legends, figures, exports."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from io import StringIO

import pandas as pd
import pytest

from inspector import export, figures, render
from inspector.compare import compare_responses
from uedpo.analysis import ResponseAnalysis, TokenRecord


class SpanCollector(HTMLParser):
    """Attributes and visible text of every ``span.ued-tok``, in document order."""

    def __init__(self):
        super().__init__()
        self.tokens: list[dict] = []
        self.ids: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "span" and "ued-tok" in (attrs.get("class") or "").split():
            self.tokens.append({**attrs, "text": ""})
            self._depth = 1
        elif tag == "span" and self._depth:
            self._depth += 1

    def handle_endtag(self, tag):
        if tag == "span" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.tokens[-1]["text"] += data


def parse(html_text: str) -> SpanCollector:
    collector = SpanCollector()
    collector.feed(html_text)
    return collector


def record(i, token, u, delta, lam, type_, logprob=-1.5, token_id=None):
    return TokenRecord(
        index=i,
        token=token,
        token_id=100 + i if token_id is None else token_id,
        u=u,
        delta=delta,
        gated=type_ in ("type-i", "type-ii", "eased"),
        type=type_,
        lam=lam,
        logprob=logprob,
    )


TOKENS = (
    record(0, "a", 0.25, -0.5, 1.0, "ungated"),
    record(1, " <unk>", 1.5, -2.0, 1.2, "type-i", logprob=-7.25),
    record(2, ' "x"&y', -0.75, 3.0, 1.0, "ungated"),
    record(3, " a", 0.1 + 0.2, -1.0, 1.05, "type-ii"),  # 0.30000000000000004: exactness matters
)
PREFERRED = ResponseAnalysis(
    preferred=True, tokens=TOKENS, threshold=-0.8, mu=0.6, sigma=0.4, n_gated=2, alpha=0.3, tau=0.4
)


def test_every_token_span_carries_exact_values():
    spans = parse(render.overlay_html(PREFERRED, "u", element_id="token-overlay")).tokens
    assert len(spans) == len(TOKENS)
    for span, tok in zip(spans, TOKENS, strict=True):
        assert float(span["data-u"]) == tok.u
        assert float(span["data-delta"]) == tok.delta
        assert float(span["data-lambda"]) == tok.lam
        assert float(span["data-logprob"]) == tok.logprob
        assert span["data-type"] == tok.type
        assert int(span["data-token-id"]) == tok.token_id
        assert int(span["data-index"]) == tok.index
        assert span["data-token"] == tok.token
        assert "data-hallucinated" not in span
    assert spans[3]["data-u"] == "0.30000000000000004"


def test_overlay_text_concatenates_to_the_response_and_is_escaped():
    html_text = render.overlay_html(PREFERRED, "type", element_id="token-overlay")
    collector = parse(html_text)
    assert collector.ids[0] == "token-overlay"
    # Whitespace stays in the text, so the words do not run together.
    assert "".join(s["text"] for s in collector.tokens) == "".join(t.token for t in TOKENS)
    assert "<unk>" not in html_text and "&lt;unk&gt;" in html_text
    assert '"x"&y' not in html_text


def test_tooltip_shows_u_delta_lambda_type_id_and_logprob():
    span = parse(render.overlay_html(PREFERRED, "type", element_id="o")).tokens[1]
    tip = span["title"]
    for piece in ("u = +1.5000", "Δ = -2.0000", "λ = 1.2000", "log p = -7.2500", "id 101", "Type-I"):
        assert piece in tip
    assert span["data-tip"] == tip and span["tabindex"] == "0"  # click (focus) pins the same details


def test_type_tooltips_state_what_lambda_is_for_the_type():
    # A Type-II token under the gate is boosted (λ > 1), less than a Type-I one: the tooltip says so, with
    # the numbers for this α, and never "left nearly unchanged".
    analysis = ResponseAnalysis(
        preferred=True,
        tokens=(
            record(0, " dog", 0.2, -2.0, 1.31, "type-ii"),
            record(1, " cat", 1.2, -2.0, 1.62, "type-i"),
            record(2, " a", 0.0, 1.0, 1.0, "ungated"),
        ),
        threshold=-0.8,
        mu=0.6,
        sigma=0.4,
        n_gated=2,
        alpha=0.8,
        tau=0.4,
    )
    tips = [s["title"] for s in parse(render.overlay_html(analysis, "type", element_id="o")).tokens]
    assert (
        "λ = 1.310, boosted +31.0%; Type-II λ lies in (1, 1.400], less than a Type-I token's (1.400, 1.800)"
        in tips[0]
    )
    assert "λ = 1.620, +62.0% weight; Type-I λ lies in (1.400, 1.800)" in tips[1]
    assert "λ = 1, plain DPO weight" in tips[2]
    assert not any("unchanged" in t for t in tips)
    assert "unchanged" not in "".join(render.TYPE_MEANINGS.values())
    disp = ResponseAnalysis(
        preferred=False,
        tokens=(record(0, " cat", 0.1, 2.0, 0.85, "eased"),),
        threshold=1.0,
        mu=0.1,
        sigma=0.0,
        n_gated=1,
        alpha=0.3,
        tau=0.4,
    )
    (tip,) = [s["title"] for s in parse(render.overlay_html(disp, "type", element_id="o")).tokens]
    assert "λ = 0.850, penalised 15.0% less; eased λ lies in (0.700, 1)" in tip


def test_type_mode_colours_are_the_type_palette():
    spans = parse(render.overlay_html(PREFERRED, "type", element_id="o")).tokens
    html_text = render.overlay_html(PREFERRED, "type", element_id="o")
    backgrounds = re.findall(r'class="ued-txt" style="background:(#[0-9a-f]{6})', html_text)
    assert backgrounds == [render.TYPE_COLORS[s["data-type"]] for s in spans]


def hex_rgb(rgb) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


def test_diverging_scale_hand_values():
    # White at 0; the channel's end colour at ±scale (clamped beyond); linear in RGB in between.
    neg, pos = render.DIVERGING["u"]
    assert render.diverging_color(0.0, 2.0, "u") == "#ffffff"
    assert render.diverging_color(2.0, 2.0, "u") == hex_rgb(pos)
    assert render.diverging_color(-9.0, 2.0, "u") == hex_rgb(neg)
    half = [round(255 + (c - 255) * 0.5) for c in pos]
    assert render.diverging_color(1.0, 2.0, "u") == hex_rgb(half)
    assert render.diverging_color(float("nan"), 1.0, "u") == render.NAN_COLOR
    assert render.diverging_color(5.0, 0.0, "u") == "#ffffff"  # all-zero response: no scale, no colour


def test_u_mode_scales_by_the_largest_abs_u():
    html_text = render.overlay_html(PREFERRED, "u", element_id="o")
    backgrounds = re.findall(r'class="ued-txt" style="background:(#[0-9a-f]{6})', html_text)
    assert backgrounds[1] == render.diverging_color(1.5, 1.5, "u") == hex_rgb(render.DIVERGING["u"][1])
    assert backgrounds[2] == render.diverging_color(-0.75, 1.5, "u")


def test_lambda_mode_is_centred_on_one_with_alpha_as_half_width():
    html_text = render.overlay_html(PREFERRED, "lambda", element_id="o")
    backgrounds = re.findall(r'class="ued-txt" style="background:(#[0-9a-f]{6})', html_text)
    assert backgrounds[0] == "#ffffff"  # λ = 1
    assert backgrounds[1] == render.diverging_color(0.2, 0.3, "lambda")


def test_text_colour_follows_background_luminance():
    assert render.text_color("#ffffff") == render.DARK_TEXT
    assert render.text_color("#1b1b1f") == render.LIGHT_TEXT
    for colour in render.TYPE_COLORS.values():  # the type palette is light: dark text everywhere
        assert render.text_color(colour) == render.DARK_TEXT


def test_unknown_colour_mode_is_rejected():
    with pytest.raises(ValueError, match="colour mode"):
        render.overlay_html(PREFERRED, "entropy", element_id="o")


def test_hallucinated_tokens_are_marked():
    spans = parse(
        render.overlay_html(PREFERRED, "type", element_id="o", hallucinated={1: "teddy <bear>"})
    ).tokens
    assert [s.get("data-hallucinated") for s in spans] == [None, "true", None, None]
    assert spans[1]["data-word"] == "teddy <bear>" and "ued-hal" in spans[1]["class"]


def test_legends():
    type_legend = render.legend_html("type", PREFERRED)
    assert "type-i (1)" in type_legend and "type-ii (1)" in type_legend and "ungated (2)" in type_legend
    u_legend = render.legend_html("u", PREFERRED)
    assert "-1.500" in u_legend and "+1.500" in u_legend
    lam_legend = render.legend_html("lambda", PREFERRED)
    assert "+0.700" in lam_legend and "+1.300" in lam_legend  # 1 ± α


def test_summary_shows_thresholds_and_counts():
    frame = render.summary_frame({"preferred": PREFERRED})
    row = frame.iloc[0]
    assert row["q"] == -0.8 and row["μ"] == 0.6 and row["gated"] == 2
    assert (row["type-i"], row["type-ii"], row["eased"], row["tokens"]) == (1, 1, 0, 4)
    text = render.summary_markdown({"preferred": PREFERRED}, noise_step=500)
    assert "-0.8000" in text and "0.6000" in text and "k = 500" in text


def test_compare_overlay_colours_by_difference_and_flags_flips():
    b_tokens = tuple(
        record(t.index, t.token, t.u + d, t.delta, t.lam, typ, t.logprob, t.token_id)
        for t, d, typ in zip(
            TOKENS, (0.0, -1.0, 0.5, 0.0), ("ungated", "type-ii", "ungated", "type-ii"), strict=True
        )
    )
    b = ResponseAnalysis(
        preferred=True, tokens=b_tokens, threshold=-0.8, mu=0.1, sigma=0.4, n_gated=2, alpha=0.3, tau=0.4
    )
    comparison = compare_responses(PREFERRED, b)
    spans = parse(render.compare_overlay_html(b, comparison, "u", element_id="token-overlay-compare")).tokens
    assert [float(s["data-du"]) for s in spans] == [0.0, -1.0, 0.5, 0.0]
    assert [s["data-flipped"] for s in spans] == ["false", "true", "false", "false"]
    assert "ued-flip" in spans[1]["class"] and spans[1]["data-type-a"] == "type-i"


def test_bars_keep_repeated_tokens_apart_with_integer_x():
    fig = figures.token_bars(PREFERRED)
    u_bars = fig.data[0]
    assert list(u_bars.x) == [0, 1, 2, 3]  # " a" twice would merge on a categorical axis
    assert list(u_bars.y) == [t.u for t in TOKENS]
    axis = fig.layout.xaxis2
    assert list(axis.tickvals) == [0, 1, 2, 3]
    assert list(axis.ticktext) == ["a", "&lt;unk&gt;", "&quot;x&quot;&amp;y", "a"]


def test_scatter_has_the_gate_and_split_lines():
    fig = figures.scatter_u_delta(PREFERRED)
    vertical = [s for s in fig.layout.shapes if s.x0 == s.x1]
    horizontal = [s for s in fig.layout.shapes if s.y0 == s.y1]
    assert [s.x0 for s in vertical] == [-0.8]  # q_τ
    assert [s.y0 for s in horizontal] == [0.6]  # μ
    by_type = {trace.name: (list(trace.x), list(trace.y)) for trace in fig.data}
    assert by_type["type-i"] == ([-2.0], [1.5])
    assert by_type["ungated"] == ([-0.5, 3.0], [0.25, -0.75])


def test_csv_and_jsonl_exports_round_trip():
    frame = export.tokens_frame({"preferred": PREFERRED}, flagged={1: "bear"})
    back = pd.read_csv(StringIO(export.to_csv(frame)), keep_default_na=False)
    assert back["u"].tolist() == [t.u for t in TOKENS]  # full float precision in the CSV
    assert back["token"].tolist() == [t.token for t in TOKENS]
    assert back["hallucinated_word"].tolist() == ["", "bear", "", ""]
    rows = [json.loads(line) for line in export.to_jsonl(frame).splitlines()]
    assert [r["delta"] for r in rows] == [t.delta for t in TOKENS] and rows[1]["type"] == "type-i"


def test_jsonl_writes_nan_as_null():
    nan_tokens = (record(0, "a", math.nan, 0.0, 1.0, "ungated"),)
    analysis = ResponseAnalysis(
        preferred=True,
        tokens=nan_tokens,
        threshold=math.nan,
        mu=0.0,
        sigma=0.0,
        n_gated=0,
        alpha=0.3,
        tau=0.4,
    )
    line = export.to_jsonl(export.tokens_frame({"preferred": analysis}))
    assert json.loads(line)["u"] is None and "NaN" not in line


def test_report_is_self_contained_and_offline():
    figs = [figures.scatter_u_delta(PREFERRED), figures.token_bars(PREFERRED)]
    text = export.report_html(
        {"preferred": PREFERRED},
        figs,
        title="r <1>",
        meta={"question": "<b>hi</b>"},
        summary=render.summary_frame({"preferred": PREFERRED}),
    )
    assert text.startswith("<!DOCTYPE html>")
    # Nothing loads from another host: no remote <script src>, <link href>, CSS url() or @import.
    assert not re.search(r"<script[^>]*\ssrc\s*=", text, re.I)
    assert not re.search(r"<link[^>]*\shref\s*=\s*[\"']?(https?:)?//", text, re.I)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//|@import", text, re.I)
    assert "fonts.googleapis" not in text
    # plotly.js is inlined exactly once (the first figure), and both figures are drawn.
    assert text.count("Plotly.newPlot") == 2
    assert len(text) > 1_000_000  # the plotly.js bundle itself
    assert "<b>hi</b>" not in text and "&lt;b&gt;hi&lt;/b&gt;" in text
    assert 'id="report-preferred-type"' in text and "&lt;unk&gt;" in text
