"""The UE-DPO token inspector: each token's u, Δ, type and λ, as training weighs them (``uedpo-inspect``).

Library (no gradio): :mod:`inspector.analysis` (``analyse_pair``, ``regate``), :mod:`inspector.render`,
:mod:`inspector.figures`, :mod:`inspector.export`, :mod:`inspector.compare`, :mod:`inspector.hallucination`,
:mod:`inspector.samples` (pairs, ``uedpo-eval`` responses, blind-spot files), :mod:`inspector.objects`
(a blind-spot object's tokens and panel), :mod:`inspector.session`. The page: :mod:`inspector.app`; the CLI:
:mod:`inspector.cli`.
"""
