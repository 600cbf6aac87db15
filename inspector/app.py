"""The Gradio page: layout and event wiring only; behaviour is in :class:`inspector.session.InspectorSession`.

Stable hooks for tests and scripts: the analyse button ``#analyze``; overlays ``#token-overlay``,
``#token-overlay-dispreferred`` and ``#token-overlay-compare`` (spans with ``data-u`` / ``data-delta`` /
``data-lambda`` / ``data-type``); the status line ``#status``; inputs ``#question``, ``#preferred``,
``#dispreferred``, ``#hallucinated-words``, ``#image-upload``, ``#sample``; sliders ``#alpha``, ``#tau``,
``#noise-step``. Set ``GRADIO_ANALYTICS_ENABLED=False`` before importing this module (the CLI does).
"""

from __future__ import annotations

import gradio as gr

from inspector.render import COLOR_MODES, MODE_LABELS, OVERLAY_CSS
from inspector.session import InspectorSession

PAGE_CSS = """
#status { min-height: 1.6em; }
#status p { margin: 0; font-size: 14px; }
.ued-section h3 { margin: 6px 0 0; font-size: 15px; }
footer { display: none !important; }
"""
INTRO = (
    "## UE-DPO token inspector\n"
    "Each token of a response, teacher-forced under the clear and the diffusion-noised image: "
    "**u** (epistemic uncertainty: > 0 where the image fails to beat the language-prior guess), "
    "**Δ** (visual sensitivity), its **type** and the exploration strength **λ** UE-DPO gives it. "
    "Hover a token for its numbers, click to pin."
)


def page_theme() -> gr.themes.Base:
    """System fonts only: a theme's default Google Font would be fetched from a CDN."""
    return gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def build_app(
    session: InspectorSession, *, alpha: float = 0.3, tau: float = 0.4, noise_step: int = 500
) -> gr.Blocks:
    samples = session.samples
    first = samples.samples[0] if samples else None
    with gr.Blocks(title="UE-DPO token inspector") as demo:
        gr.Markdown(INTRO)
        state = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=330):
                sample = gr.Dropdown(
                    [s.label for s in samples.samples] if samples else [],
                    value=first.label if first else None,
                    label="Sample",
                    elem_id="sample",
                    visible=samples is not None,
                )
                if samples is not None and samples.errors:
                    gr.Markdown(
                        "⚠ skipped rows:\n" + "\n".join(f"- {e}" for e in samples.errors),
                        elem_id="samples-errors",
                    )
                # No file_types: gradio would reject other files with its own error; ours names the problem.
                upload = gr.File(
                    label="Image (upload to override the sample's)", type="filepath", elem_id="image-upload"
                )
                preview = gr.Image(label="Image analysed", interactive=False, height=210, elem_id="preview")
                question = gr.Textbox(
                    label="Prompt", value=first.question if first else "", lines=2, elem_id="question"
                )
                preferred = gr.Textbox(
                    label="Preferred response",
                    value=first.preferred if first else "",
                    lines=4,
                    elem_id="preferred",
                )
                dispreferred = gr.Textbox(
                    label="Dispreferred response (optional)",
                    lines=3,
                    elem_id="dispreferred",
                    value=(first.dispreferred or "") if first else "",
                )
                words = gr.Textbox(
                    label="Scorer-flagged words (AMBER/CHAIR), comma-separated",
                    elem_id="hallucinated-words",
                    value=", ".join(first.hallucinated) if first else "",
                )
                alpha_s = gr.Slider(
                    0.0, 1.0, value=alpha, step=0.01, label="α (exploration strength)", elem_id="alpha"
                )
                tau_s = gr.Slider(0.05, 0.95, value=tau, step=0.05, label="τ (gate quantile)", elem_id="tau")
                k_s = gr.Slider(
                    0,
                    999,
                    value=noise_step,
                    step=1,
                    label="noise step k (re-runs the forwards)",
                    elem_id="noise-step",
                )
                analyse_btn = gr.Button("Analyse", variant="primary", elem_id="analyze")
            with gr.Column(scale=3):
                status = gr.Markdown("", elem_id="status")
                mode = gr.Radio(
                    [(MODE_LABELS[m], m) for m in COLOR_MODES],
                    value="type",
                    label="Colour tokens by",
                    elem_id="color-by",
                )
                with gr.Group(elem_classes="ued-section"):
                    gr.Markdown("### Preferred response")
                    legend_p = gr.HTML(js_on_load=None)
                    overlay_p = gr.HTML(js_on_load=None, elem_id="overlay-preferred-box")
                    gr.Markdown("### Dispreferred response")
                    legend_d = gr.HTML(js_on_load=None)
                    overlay_d = gr.HTML(js_on_load=None, elem_id="overlay-dispreferred-box")
                summary = gr.Markdown(elem_id="gate-summary")
                with gr.Tabs():
                    with gr.Tab("u vs Δ"):
                        scatter_p = gr.Plot(show_label=False)
                        scatter_d = gr.Plot(show_label=False)
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
                        compare_summary = gr.Markdown()
                        compare_legend = gr.HTML(js_on_load=None)
                        compare_overlay = gr.HTML(js_on_load=None, elem_id="overlay-compare-box")
                        compare_table = gr.Dataframe(interactive=False, elem_id="compare-table")
                    with gr.Tab("Export"):
                        export_btn = gr.Button("Export CSV, JSONL and offline HTML report", elem_id="export")
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
            "overlay_preferred": overlay_p,
            "legend_preferred": legend_p,
            "overlay_dispreferred": overlay_d,
            "legend_dispreferred": legend_d,
            "scatter_preferred": scatter_p,
            "bars_preferred": bars_p,
            "scatter_dispreferred": scatter_d,
            "hal_table": hal_table,
            "compare_summary": compare_summary,
            "compare_overlay": compare_overlay,
            "compare_legend": compare_legend,
            "compare_table": compare_table,
            "files": files,
        }
        outputs = list(comps.values())

        def wire(handler):
            # Handlers return {name: value}; names left out keep their value.
            return lambda *args: {comps[name]: value for name, value in handler(*args).items()}

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
        ]
        analyse = wire(session.analyse)
        analyse_btn.click(analyse, analyse_inputs, outputs, api_name="analyse")
        k_s.release(analyse, analyse_inputs, outputs, api_name=False, trigger_mode="always_last")
        regate = wire(session.regate)
        regate_inputs = [state, words, alpha_s, tau_s, mode, compare_field]
        for slider in (alpha_s, tau_s):  # gates only, no forward: instant, so every change re-renders
            slider.change(regate, regate_inputs, outputs, api_name=False, trigger_mode="always_last")
        for control in (mode, compare_field):
            control.change(
                wire(session.rerender), [state, words, mode, compare_field], outputs, api_name=False
            )
        words.submit(wire(session.rerender), [state, words, mode, compare_field], outputs, api_name=False)
        sample.input(wire(session.pick), [sample], outputs, api_name="pick").then(
            analyse, analyse_inputs, outputs, api_name=False
        )
        export_btn.click(wire(session.export), [state, words], outputs, api_name="export")
        if first is not None:
            demo.load(analyse, analyse_inputs, outputs, api_name=False)
    return demo


def launch_kwargs(session: InspectorSession, *, host: str = "127.0.0.1", port: int | None = None) -> dict:
    """``demo.launch`` arguments: local bind, no share link, offline theme, the overlay CSS."""
    return dict(
        server_name=host,
        server_port=port,
        share=False,
        css=OVERLAY_CSS + PAGE_CSS,
        theme=page_theme(),
        allowed_paths=[str(session.export_root)],
        max_file_size="80mb",
        footer_links=[],
        ssr_mode=False,
    )
