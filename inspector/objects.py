"""Blind-spot objects on the page: which probe tokens are the object, its panel, and the note on greedy text.

Pure (no gradio, no torch). The object's numbers (``p_clear``, ``p_blurred``, ``u``, ``Δ``, type, verdict) are the
blind-spot file's (:class:`inspector.samples.ObjectRow`); the panel shows them beside the per-token numbers this
page computed for the object's tokens of the probe, so the two can be checked against each other.

Hooks: ``#object-panel`` carries ``data-word``, ``data-status``, ``data-verdict``, ``data-type``,
``data-p-clear``, ``data-p-blurred``, ``data-u`` and ``data-delta`` (the file's values, floats as ``repr``)
and ``data-token-indices`` (the probe tokens marked as the object, JSON); ``#object-p-clear``,
``#object-p-blurred``, ``#object-verdict`` and ``#object-probe`` hold the displayed values.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence

import pandas as pd

from inspector.hallucination import match_words
from inspector.render import fmt
from inspector.samples import ObjectRow, Sample
from uedpo.analysis import ResponseAnalysis

PANEL_ID = "object-panel"
# The writer's rules (evaluation/blindspots.py): u at the word's first token; P(word) under prior view / clear.
VERDICT_READINGS = {
    "prior-driven": "the prior view (no image) predicts the word at least as strongly as the clear image",
    "image-driven": "the clear image predicts the word more strongly than the prior view",
    "blind-spot": "u > 0: under the clear image the model prefers its blurred-image guess to this object",
    "seen": "u ≤ 0: the clear image beats the blurred-image guess for this object",
}
GREEDY_NOTE = (
    "**The model's own greedy output.** Each token of a `uedpo-eval` response was the argmax under the clear "
    "image, so u = z(â) − z(a) ≤ 0 for every token by construction (when this checkpoint wrote it): no token "
    "of it can show a blind spot, and its Type-I tokens only have the highest u among the gated ones."
)


def object_tokens(tokens: Sequence[str], obj: ObjectRow) -> tuple[int, ...]:
    """Indices of the probe tokens that are ``obj``: the row's ``token_index`` when those tokens are its
    ``tokens``; else its ``tokens`` as a run (exact, then stripped and case-folded), else the word's surface
    forms (:func:`inspector.hallucination.match_words`). A missed object's probe names it in the appended
    sentence, so the last occurrence is taken; otherwise the first (the writer's "first mention")."""
    index = obj.token_index
    if index and all(0 <= i < len(tokens) for i in index):
        if not obj.tokens or [tokens[i] for i in index] == list(obj.tokens):
            return tuple(index)
    runs: list[tuple[int, ...]] = []
    want = list(obj.tokens)
    for norm in ((lambda t: t), (lambda t: t.strip().lower())):
        target = [norm(t) for t in want]
        if not target or not any(target):
            break
        seen = [norm(t) for t in tokens]
        runs = [
            tuple(range(i, i + len(target)))
            for i in range(len(seen) - len(target) + 1)
            if seen[i : i + len(target)] == target
        ]
        if runs:
            break
    if not runs:
        runs = [m.tokens for m in match_words(tokens, [obj.word])]
    if not runs:
        return ()
    return runs[-1] if obj.status == "missed" else runs[0]


def _num(value: float, spec: str = ".4f") -> str:
    return format(value, spec) if math.isfinite(value) else "—"


def _highlight(probe: str, word: str, *, last: bool) -> str:
    """The probe, escaped, with one occurrence of ``word`` in ``<mark>``."""
    hits = list(re.finditer(rf"(?<!\w){re.escape(word)}(?:e?s)?(?!\w)", probe, flags=re.IGNORECASE))
    if not hits:
        return html.escape(probe)
    hit = hits[-1] if last else hits[0]
    return (
        html.escape(probe[: hit.start()])
        + f"<mark>{html.escape(hit.group(0))}</mark>"
        + html.escape(probe[hit.end() :])
    )


def _run_mismatch(obj: ObjectRow, settings: Mapping[str, object]) -> list[str]:
    """Settings the file names that differ from the page's (seed, step, k): its numbers can then differ."""
    out = []
    for key in ("seed", "step", "k"):
        if key in obj.run and key in settings and str(obj.run[key]) != str(settings[key]):
            out.append(f"{key} {obj.run[key]} in the file, {settings[key]} here")
    return out


def object_panel_html(
    obj: ObjectRow | None,
    analysis: ResponseAnalysis | None,
    indices: Sequence[int],
    *,
    probe_analysed: bool,
    settings: Mapping[str, object] | None = None,
) -> str:
    """The selected object's probe, p(clear) / p(blurred), verdict and numbers: the file's beside the page's
    (u, Δ and type of the word's first token, as the writer reads them; p of the whole word)."""
    if obj is None:
        return ""
    settings = settings or {}
    attrs = {
        "id": PANEL_ID,
        "class": "ued-panel",
        "data-word": obj.word,
        "data-status": obj.status,
        "data-verdict": obj.verdict,
        "data-type": obj.type,
        "data-p-clear": fmt(obj.p_clear),
        "data-p-blurred": fmt(obj.p_blurred),
        "data-u": fmt(obj.u),
        "data-delta": fmt(obj.delta),
        "data-token-indices": json.dumps(list(indices)),
        "data-probe-analysed": "true" if probe_analysed else "false",
    }
    head = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    details = obj.details
    ratio = (
        f"× {obj.p_clear / obj.p_blurred:.2f}"
        if math.isfinite(obj.p_clear) and math.isfinite(obj.p_blurred) and obj.p_blurred > 0
        else "—"
    )
    rows = [
        ("p, clear image", f'<span id="object-p-clear">{_num(obj.p_clear)}</span>'),
        ("p, blurred image", f'<span id="object-p-blurred">{_num(obj.p_blurred)}</span>'),
    ]
    if isinstance(details.get("p_prior"), (int, float)):
        rows.append(("p, prior view", _num(float(details["p_prior"]))))
    rows.append(("clear ÷ blurred", ratio))
    branch = f" ({html.escape(str(details['branch']))} branch)" if "branch" in details else ""
    rows.append(
        (
            "file: u · Δ · type",
            f"{_num(obj.u, '+.4f')} · {_num(obj.delta, '+.4f')} · {html.escape(obj.type)}{branch}",
        )
    )
    if "blurred_argmax" in details:
        rows.append(("guess â, blurred", html.escape(repr(details["blurred_argmax"]))))
    if analysis is not None and probe_analysed and indices:
        tokens = [analysis.tokens[i] for i in indices]
        page = "<br>".join(
            f"{html.escape(repr(t.token))}: {t.u:+.4f} · {t.delta:+.4f} · {html.escape(t.type)} (λ = {t.lam:.3f})"
            for t in tokens
        )
        rows.append(("this page: u · Δ · type", page))
        rows.append(("this page: p, clear", _num(math.exp(sum(t.logprob for t in tokens)))))
        if tokens[0].type != obj.type:
            rows.append(
                (
                    "",
                    "<span class='ued-muted'>types may differ by design: the writer gates the probe without EOS "
                    "(hallucinated words in the dispreferred branch); this page gates it as the preferred response, "
                    "EOS included, as training does</span>",
                )
            )
    elif probe_analysed:
        rows.append(("this page", '<span class="ued-warn">the object\'s tokens are not in the probe</span>'))
    else:
        rows.append(("this page", "the analysed text is not this probe (shown below)"))
    for key in ("group", "probe_kind"):
        if key in details:
            rows.append((key.replace("_", " "), html.escape(str(details[key]))))
    run = ", ".join(f"{k} {v}" for k, v in obj.run.items())
    if run:
        rows.append(("file's run", html.escape(run)))
    mismatch = _run_mismatch(obj, settings)
    if mismatch:
        rows.append(
            ("", f"<span class='ued-warn'>⚠ {html.escape('; '.join(mismatch))}: numbers can differ</span>")
        )
    where = f' <span class="ued-muted">({html.escape(obj.where)})</span>' if obj.where else ""
    reading = VERDICT_READINGS.get(obj.verdict, "")
    kind = (
        f" · {html.escape(str(details['object_class']))}"
        if details.get("object_class", obj.word) != obj.word
        else ""
    )
    return (
        f"<div {head}><h4>{html.escape(obj.word)} <span class='ued-muted'>{html.escape(obj.status)}{kind}</span></h4>"
        f'<span id="object-verdict" class="ued-verdict ued-verdict-{html.escape(obj.verdict)}">'
        f"{html.escape(obj.verdict)}</span> <span class='ued-muted'>{html.escape(reading)}</span>"
        "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"
        f"<div class='ued-muted'>probe (the text teacher-forced){where}</div>"
        f'<div id="object-probe" class="ued-probe">'
        f"{_highlight(obj.probe, obj.word, last=obj.status == 'missed')}</div></div>"
    )


def response_note(sample: Sample | None, text: str, analysis: ResponseAnalysis | None) -> str:
    """Markdown saying what the analysed text is: the model's greedy output (u ≤ 0) or a missed object's probe."""
    if sample is None or sample.kind not in ("eval", "blindspots"):
        return ""
    if sample.response is not None and text == sample.response:
        check = ""
        if analysis is not None:
            n_pos = sum(t.u > 0 for t in analysis.tokens)
            check = (
                f" Here all {len(analysis.tokens)} tokens have u ≤ 0."
                if n_pos == 0
                else f" ⚠ {n_pos} of {len(analysis.tokens)} tokens have u > 0: this checkpoint or prompt is not "
                "the one that wrote the response, or it re-tokenises differently."
            )
        missed = [o for o in sample.objects if o.status == "missed"]
        if missed:
            pointer = (
                f" To look for blind spots, pick a missed object ({', '.join(o.word for o in missed[:4])}) "
                "under **Object**: its probe teacher-forces a sentence naming it."
            )
        elif sample.objects:
            pointer = " The objects' probes of this item are this same response."
        else:
            pointer = (
                " To look for blind spots, open the blind-spot file (`uedpo-eval --blindspots` writes "
                "`OUT/<bench>/blindspots.jsonl`; `uedpo-inspect --samples` it) and pick a missed object: its "
                "probe teacher-forces a sentence naming it."
            )
        return GREEDY_NOTE + check + pointer
    probes = [o for o in sample.objects if o.probe == text and o.status == "missed"]
    if probes:
        words = ", ".join(repr(o.word) for o in probes)
        return (
            f"**Probe for the missed object {words}**: the model's response continued with a sentence naming "
            "it. Those added tokens are not the model's own output, so u > 0 on them means the clear image "
            "does not beat the language-prior guess: a blind spot."
        )
    return ""


def objects_frame(sample: Sample, analyses: Mapping[str, ResponseAnalysis] | None = None) -> pd.DataFrame:
    """The item's objects with the file's numbers and, for the objects whose probe was analysed
    (``analyses``: probe text → analysis), the page's u / Δ / type of their tokens."""
    rows = []
    for obj in sample.objects:
        analysis = (analyses or {}).get(obj.probe)
        indices = object_tokens([t.token for t in analysis.tokens], obj) if analysis else ()
        page = [analysis.tokens[i] for i in indices] if analysis else []
        rows.append(
            {
                "sample_id": sample.id,
                "word": obj.word,
                "status": obj.status,
                "verdict": obj.verdict,
                "p_clear": obj.p_clear,
                "p_blurred": obj.p_blurred,
                "u_file": obj.u,
                "delta_file": obj.delta,
                "type_file": obj.type,
                "tokens_page": " ".join(repr(t.token) for t in page),
                "u_page": ", ".join(f"{t.u:.6g}" for t in page),
                "delta_page": ", ".join(f"{t.delta:.6g}" for t in page),
                "type_page": ", ".join(t.type for t in page),
                "probe": obj.probe,
            }
        )
    return pd.DataFrame(rows)
