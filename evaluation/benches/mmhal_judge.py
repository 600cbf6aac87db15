"""Glue between the judge client and the pure MMHal scorer (this module does network I/O via the client).

Mirrors ``llava-rlhf/LLaVA-RLHF`` @ 830a083 ``Eval/eval_gpt_mmhal.py``: one judge prompt per record, the
replies saved in the official format (a JSON list of chat-completion objects, aligned with the records) so
``--reviews`` and the official ``summarize_gpt_mmhal.py`` can re-score them offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from evaluation.judge import JudgeClient, JudgeReply
from evaluation.mmhal.prompt import JudgePromptInput, build_judge_prompt
from evaluation.mmhal.score import MMHalResult, ScoredRecord, score_mmhal

# The official judge model (retired by OpenAI; any OpenAI-compatible judge can stand in, but the scores then
# differ from published ones; record the served model with the results).
OFFICIAL_JUDGE_MODEL = "gpt-4-0314"
RLAIFV_JUDGE_MODEL = "gpt-4-1106-preview"


class _Record(JudgePromptInput, ScoredRecord, Protocol):
    """A record that can be both prompted and scored (``benchmarks_data.mmhal.MMHalRecord``)."""


def judge_records(records: Sequence[_Record], client: JudgeClient, *,
                  allow_failures: bool = False) -> list[JudgeReply]:
    """One judge reply per record, in the records' order; ``allow_failures``: return judge failures (empty
    or cut-off replies after every retry, ``reply.failure`` set) instead of raising."""
    return client.complete_many([build_judge_prompt(r) for r in records], desc="MMHal judge",
                                allow_failures=allow_failures)


def official_review_dump(replies: Sequence[JudgeReply]) -> list[dict[str, Any]]:
    """The replies as the official script saves them (``--evaluation``): full completion objects."""
    return [r.completion for r in replies]


def judge_and_score(records: Sequence[_Record], client: JudgeClient) -> tuple[MMHalResult, list[JudgeReply]]:
    """Judge every record, then score the replies (pure); a judge failure raises ``JudgeError``."""
    replies = judge_records(records, client)
    return score_mmhal(records, [r.text for r in replies]), replies
