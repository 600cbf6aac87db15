"""The Gradio page: layout and event wiring only; behaviour is in :class:`inspector.session.InspectorSession`.

Stable hooks for tests and scripts: the analyse button ``#analyze``; overlays ``#token-overlay``,
``#token-overlay-dispreferred``, ``#token-overlay-compare`` and ``#token-overlay-compare-dispreferred`` (spans
with ``data-u`` / ``data-delta`` / ``data-lambda`` / ``data-type``; the selected object's tokens also carry
``data-object``); the status line ``#status``; inputs ``#question``, ``#preferred``, ``#dispreferred``,
``#hallucinated-words``, ``#image-upload``, ``#sample``, ``#object``; filters ``#filter`` and ``#search`` (with
``#filter-count``); sliders ``#alpha``, ``#tau``, ``#noise-step``; the object panel ``#object-panel``
(:mod:`inspector.objects`); the note on the analysed text ``#response-note``; an error beside the control
that caused it in ``#error-<field>`` (:data:`inspector.session.ERROR_FIELDS`); exports ``#export`` and
``#export-all``. Set ``GRADIO_ANALYTICS_ENABLED=False`` before importing this module (the CLI does).
"""

from __future__ import annotations

import gradio as gr

from inspector.render import COLOR_MODES, MODE_LABELS, OVERLAY_CSS
from inspector.samples import FILTERS
from inspector.session import ERROR_FIELDS, Choices, InspectorSession

PAGE_CSS = """
#status { min-height: 1.6em; }
#status p { margin: 0; font-size: 14px; }
#model-label p { margin: 0; font-size: 13px; color: #555; }
.ued-section h3 { margin: 6px 0 0; font-size: 15px; }
/* Pinned tooltips must not be cut by the section boxes gradio clips (overflow: hidden). */
.ued-section, .ued-section > .styler, .ued-section .styler, .ued-overlay-box, .ued-overlay-box > * {
  overflow: visible !important; }
/* ... and must paint above what follows, also while gradio fades updated outputs (opacity < 1 makes each a
   stacking context): the section holding the focused token is raised. */
.ued-section:focus-within { position: relative; z-index: 70; }
.ued-field-error { color: #a3141e; background: #fdecee; border: 1px solid #f3b5bc; border-radius: 6px;
  padding: 4px 8px; font-size: 13px; margin: 2px 0; }
#response-note { font-size: 13.5px; }
#response-note p { margin: 4px 0; }
#filter-count p { margin: 0; font-size: 13px; color: #555; }
footer { display: none !important; }
"""
INTRO = (
    "## UE-DPO token inspector\n"
    "Each token of a response, teacher-forced under the clear and the diffusion-noised image: "
    "**u** (epistemic uncertainty: > 0 where the image fails to beat the language-prior guess), "
    "**Δ** (visual sensitivity), its **type** and the exploration strength **λ** UE-DPO gives it. "
    "Hover a token for its numbers, click to pin."
)
# Typing a noise step and pressing Enter re-runs like releasing the slider: Enter blurs the number box,
# and gradio turns the blur into the slider's `release` event.
PAGE_JS = """() => {
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target && e.target.matches && e.target.matches('#noise-step input[type=number]')) {
      e.preventDefault();
      e.target.blur();
    }
  }, true);
}"""
# Outputs that switch components on or off rather than set a value.
TOGGLES = ("show_dispreferred", "show_object", "show_compare_dispreferred")
# Events handled at once (gradio's default is 1 per event: 8 users wait for each other's whole request). The
# forwards still take turns (InspectorSession's lock); rendering, exports and downloads of other users overlap
# them. The events that may run a forward share one limit ("forward"); the others have their own.
DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_QUEUE = 64  # requests waiting beyond that get gradio's "queue is full" (retry) message
FORWARD_GROUP = "forward"


def checked_slider(*args, **kwargs) -> gr.Slider:
    """A ``gr.Slider`` whose value reaches the handler as typed (an empty box, a value out of range): the
    handler checks it and shows its message beside the slider, where gradio's own check would raise a corner
    toast. (An instance attribute, not a subclass: gradio writes a ``.pyi`` stub beside every subclass.)"""
    slider = gr.Slider(*args, **kwargs)
    slider.preprocess = lambda payload: payload
    return slider


def page_theme() -> gr.themes.Base:
    """System fonts only: a theme's default Google Font would be fetched from a CDN."""
    return gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def _error_slot(name: str) -> gr.HTML:
    """Where an error caused by the control above shows; hidden while empty (no gap in the column)."""
    return gr.HTML("", elem_id=f"error-{name}", js_on_load=None, visible=False)


def model_label(session: InspectorSession) -> str:
    parts = []
    if session.model_a is not None:
        parts.append(f"**A**: `{session.model_a.label}`")
    if session.compare_fn is not None and session.model_b is not None:
        parts.append(f"**B** (compare tab): `{session.model_b.label}`")
    return " · ".join(parts)


def build_app(
    session: InspectorSession,
    *,
    alpha: float = 0.3,
    tau: float = 0.4,
    noise_step: int = 500,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_queue: int = DEFAULT_MAX_QUEUE,
) -> gr.Blocks:
    """The page for ``session``, queued: ``concurrency`` events at once (those that may run a forward share
    that limit), at most ``max_queue`` waiting."""
    samples = session.samples
    first = samples.samples[0] if samples else None
    first_obj = first.first_object() if first else None
    has_objects = bool(samples and samples.has_objects)
    filter_names = list(FILTERS) if has_objects else ["all", "flagged"]
    errors: dict[str, gr.HTML] = {}
    with gr.Blocks(title="UE-DPO token inspector") as demo:
        gr.Markdown(INTRO)
        state = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=330):
                with gr.Group(visible=samples is not None):
                    filter_r = gr.Radio(
                        [(FILTERS[n], n) for n in filter_names],
                        value="all",
                        label="Show",
                        elem_id="filter",
                    )
                    search = gr.Textbox(
                        label="Search id or word (Enter)", placeholder="e.g. 12 or umbrella", elem_id="search"
                    )
                filter_count = gr.Markdown(
                    f"{len(samples.samples)} items" if samples else "", elem_id="filter-count"
                )
                errors["filter"] = _error_slot("filter")
                sample = gr.Dropdown(
                    session.sample_choices() if samples else [],
                    value=first.id if first else None,
                    label="Sample (id · status · flagged words)",
                    elem_id="sample",
                    visible=samples is not None,
                )
                if samples is not None and samples.errors:
                    gr.Markdown(
                        "⚠ skipped rows:\n" + "\n".join(f"- {e}" for e in samples.errors),
                        elem_id="samples-errors",
                    )
                errors["sample"] = _error_slot("sample")
                obj_dd = gr.Dropdown(
                    [(o.label, o.key) for o in first.objects] if first else [],
                    value=first_obj.key if first_obj else None,
                    label="Object (word · status · verdict)",
                    elem_id="object",
                    visible=first_obj is not None,
                )
                errors["object"] = _error_slot("object")
                # No file_types: gradio would reject other files with its own error; ours names the problem.
                upload = gr.File(
                    label="Image (upload to override the sample's)", type="filepath", elem_id="image-upload"
                )
                errors["image"] = _error_slot("image")
                preview = gr.Image(label="Image analysed", interactive=False, height=210, elem_id="preview")
                question = gr.Textbox(
                    label="Prompt", value=first.question if first else "", lines=2, elem_id="question"
                )
                preferred = gr.Textbox(
                    label="Preferred response (or the object's probe)",
                    value=(first_obj.probe if first_obj else first.preferred) if first else "",
                    lines=4,
                    elem_id="preferred",
                )
                errors["preferred"] = _error_slot("preferred")
                dispreferred = gr.Textbox(
                    label="Dispreferred response (optional)",
                    lines=3,
                    elem_id="dispreferred",
                    value=(first.dispreferred or "") if first else "",
                )
                errors["dispreferred"] = _error_slot("dispreferred")
                words = gr.Textbox(
                    label="Scorer-flagged words (AMBER/CHAIR), comma-separated",
                    elem_id="hallucinated-words",
                    value=", ".join(first.hallucinated) if first else "",
                )
                errors["words"] = _error_slot("words")
                alpha_s = checked_slider(
                    0.0, 1.0, value=alpha, step=0.01, label="α (exploration strength)", elem_id="alpha"
                )
                errors["alpha"] = _error_slot("alpha")
                tau_s = checked_slider(
                    0.05, 0.95, value=tau, step=0.05, label="τ (gate quantile)", elem_id="tau"
                )
                errors["tau"] = _error_slot("tau")
                k_s = checked_slider(
                    0,
                    999,
                    value=noise_step,
                    step=1,
                    label="noise step k (re-runs the forwards: slide, or type and press Enter)",
                    elem_id="noise-step",
                )
                errors["noise-step"] = _error_slot("noise-step")
                analyse_btn = gr.Button("Analyse", variant="primary", elem_id="analyze")
                errors["analyze"] = _error_slot("analyze")
            with gr.Column(scale=3):
                status = gr.Markdown("", elem_id="status")
                gr.Markdown(model_label(session), elem_id="model-label")
                mode = gr.Radio(
                    [(MODE_LABELS[m], m) for m in COLOR_MODES],
                    value="type",
                    label="Colour tokens by",
                    elem_id="color-by",
                )
                note = gr.Markdown("", elem_id="response-note")
                with gr.Row(equal_height=False, elem_classes="ued-section"):
                    with gr.Column(scale=3, elem_classes="ued-section"):
                        gr.Markdown("### Preferred response")
                        legend_p = gr.HTML(js_on_load=None)
                        overlay_p = gr.HTML(
                            js_on_load=None, elem_id="overlay-preferred-box", elem_classes="ued-overlay-box"
                        )
                    with gr.Column(
                        scale=2, visible=first_obj is not None, elem_classes="ued-section"
                    ) as obj_col:
                        gr.Markdown("### Selected object")
                        object_panel = gr.HTML(js_on_load=None, elem_id="object-panel-box")
                with gr.Column(
                    visible=bool(first and first.dispreferred), elem_classes="ued-section"
                ) as disp_col:
                    gr.Markdown("### Dispreferred response")
                    legend_d = gr.HTML(js_on_load=None)
                    overlay_d = gr.HTML(
                        js_on_load=None, elem_id="overlay-dispreferred-box", elem_classes="ued-overlay-box"
                    )
                summary = gr.Markdown(elem_id="gate-summary")
                with gr.Tabs():
                    with gr.Tab("u vs Δ"):
                        scatter_p = gr.Plot(show_label=False)
                        scatter_d = gr.Plot(show_label=False, visible=bool(first and first.dispreferred))
                    with gr.Tab("Per-token bars"):
                        bars_p = gr.Plot(show_label=False)
                    with gr.Tab("Scorer link"):
                        gr.Markdown(
                            "Words AMBER/CHAIR flagged as hallucinated, on their tokens: a **Type-I** token "
                            "is a blind spot, a **Type-II** token a language prior."
                        )
                        hal_table = gr.Dataframe(elem_id="hallucination-table", interactive=False)
                    with gr.Tab("Compare checkpoints", visible=session.compare_fn is not None):
                        compare_field = gr.Radio(
                            [("u", "u"), ("Δ", "delta"), ("λ", "lambda")],
                            value="u",
                            label="Colour by the difference B − A of",
                            elem_id="compare-field",
                        )
                        compare_summary = gr.Markdown(elem_id="compare-summary")
                        errors["compare"] = _error_slot("compare")
                        compare_legend = gr.HTML(js_on_load=None)
                        with gr.Column(elem_classes="ued-section"):
                            gr.Markdown("### Preferred response, B − A")
                            compare_overlay = gr.HTML(
                                js_on_load=None, elem_id="overlay-compare-box", elem_classes="ued-overlay-box"
                            )
                        with gr.Column(visible=False, elem_classes="ued-section") as compare_disp_col:
                            gr.Markdown("### Dispreferred response, B − A")
                            compare_overlay_d = gr.HTML(
                                js_on_load=None,
                                elem_id="overlay-compare-dispreferred-box",
                                elem_classes="ued-overlay-box",
                            )
                        compare_table = gr.Dataframe(interactive=False, elem_id="compare-table")
                    with gr.Tab("Export"):
                        with gr.Row():
                            export_btn = gr.Button(
                                "Export this view (CSV, JSONL, offline HTML)", elem_id="export"
                            )
                            export_all_btn = gr.Button(
                                "Export all shown samples", elem_id="export-all", visible=samples is not None
                            )
                        errors["export"] = _error_slot("export")
                        files = gr.Files(label="Downloads", elem_id="exports")

        comps = {
            "state": state,
            "status": status,
            "summary": summary,
            "preview": preview,
            "upload": upload,
            "question": question,
            "preferred": preferred,
            "dispreferred": dispreferred,
            "words": words,
            "sample": sample,
            "object": obj_dd,
            "filter_count": filter_count,
            "overlay_preferred": overlay_p,
            "legend_preferred": legend_p,
            "overlay_dispreferred": overlay_d,
            "legend_dispreferred": legend_d,
            "object_panel": object_panel,
            "response_note": note,
            "scatter_preferred": scatter_p,
            "bars_preferred": bars_p,
            "scatter_dispreferred": scatter_d,
            "hal_table": hal_table,
            "compare_summary": compare_summary,
            "compare_overlay": compare_overlay,
            "compare_overlay_dispreferred": compare_overlay_d,
            "compare_legend": compare_legend,
            "compare_table": compare_table,
            "files": files,
            **{f"error:{name}": errors[name] for name in ERROR_FIELDS},
        }
        toggles = {
            "show_dispreferred": [disp_col, scatter_d],
            "show_object": [obj_col, obj_dd],
            "show_compare_dispreferred": [compare_disp_col],
        }
        outputs = list(comps.values()) + [disp_col, obj_col, compare_disp_col]

        def wire(handler):
            """Handlers return {name: value}; names left out keep their value."""

            def run(*args):
                out = handler(*args)
                result: dict = {}
                for name, value in out.items():
                    if name in TOGGLES:
                        continue
                    if isinstance(value, Choices):
                        value = gr.update(choices=value.options, value=value.value)
                    elif name.startswith("error:"):
                        value = gr.update(value=value, visible=bool(value))
                    result[comps[name]] = value
                for name in TOGGLES:
                    if name not in out:
                        continue
                    for comp in toggles[name]:
                        current = result.get(comp)
                        if isinstance(current, dict) and current.get("__type__") == "update":
                            current["visible"] = out[name]
                        elif comp in result:
                            result[comp] = gr.update(value=current, visible=out[name])
                        else:
                            result[comp] = gr.update(visible=out[name])
                return result

            return run

        analyse_inputs = [
            upload,
            sample,
            question,
            preferred,
            dispreferred,
            words,
            alpha_s,
            tau_s,
            k_s,
            mode,
            compare_field,
            obj_dd,
        ]
        refresh_inputs = [state, *analyse_inputs]
        analyse = wire(session.analyse)
        refresh = wire(session.refresh)
        forward = dict(concurrency_limit=concurrency, concurrency_id=FORWARD_GROUP)
        analyse_btn.click(analyse, analyse_inputs, outputs, api_name="analyse", **forward)
        k_s.release(
            wire(session.refresh_k),
            refresh_inputs,
            outputs,
            api_name=False,
            trigger_mode="always_last",
            **forward,
        )
        regate = wire(session.regate)
        regate_inputs = [state, words, alpha_s, tau_s, mode, compare_field]
        for slider in (alpha_s, tau_s):  # gates only, no forward: instant, so every change re-renders
            slider.change(regate, regate_inputs, outputs, api_name=False, trigger_mode="always_last")
        for control in (mode, compare_field):
            control.change(
                wire(session.rerender), [state, words, mode, compare_field], outputs, api_name=False
            )
        words.submit(wire(session.rerender), [state, words, mode, compare_field], outputs, api_name=False)
        sample.input(
            wire(session.pick), [sample, filter_r], outputs, api_name="pick", trigger_mode="always_last"
        ).then(refresh, refresh_inputs, outputs, api_name=False, **forward)
        obj_dd.input(
            wire(session.pick_object),
            [sample, obj_dd],
            outputs,
            api_name="pick_object",
            trigger_mode="always_last",
        ).then(refresh, refresh_inputs, outputs, api_name=False, **forward)
        filter_inputs = [filter_r, search, sample, obj_dd]
        for event, api in ((filter_r.input, "filter"), (search.submit, False)):
            event(
                wire(session.filter_items), filter_inputs, outputs, api_name=api, trigger_mode="always_last"
            ).then(refresh, refresh_inputs, outputs, api_name=False, **forward)
        export_btn.click(wire(session.export), [state, words], outputs, api_name="export")
        export_all_btn.click(
            wire(session.export_all),
            [filter_r, search, alpha_s, tau_s, k_s],
            outputs,
            api_name="export_all",
            **forward,
        )
        if first is not None:
            demo.load(analyse, analyse_inputs, outputs, api_name=False, **forward)
    demo.queue(default_concurrency_limit=concurrency, max_size=max_queue)
    return demo


def launch_kwargs(
    session: InspectorSession,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    auth: tuple[str, str] | None = None,
) -> dict:
    """``demo.launch`` arguments: local bind, no share link, offline theme, the overlay CSS, the page JS;
    ``auth`` (user, password) puts the page and its API behind gradio's login. Exports and previews are
    served from ``session.export_root`` (an allowed path)."""
    return dict(
        server_name=host,
        server_port=port,
        auth=auth,
        share=False,
        css=OVERLAY_CSS + PAGE_CSS,
        js=PAGE_JS,
        theme=page_theme(),
        allowed_paths=[str(session.export_root)],
        max_file_size="80mb",
        footer_links=[],
        ssr_mode=False,
    )
