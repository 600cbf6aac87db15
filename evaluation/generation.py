"""Resumable, batched generation into a JSONL file.

``responses.jsonl`` gets one ``{"id", "image", "question", "response"}`` row per item, appended and flushed per
batch. A rerun after a crash or Ctrl-C reads the file, drops a trailing half-written line, and generates only the
missing items, so nothing is lost or duplicated. The generation settings are stored beside it
(``responses.settings.json``); resuming with different settings is refused, because mixing them would make the
scores meaningless.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from uedpo.errors import InputError
from uedpo.io import atomic_write_json


class ResumeError(InputError):
    """An existing responses file cannot be resumed with the requested settings."""


@dataclass(frozen=True)
class GenItem:
    id: int | str
    image: str  # file name inside the image directory
    question: str
    max_new_tokens: int = 512
    extra: dict[str, Any] = field(default_factory=dict)  # more fields for the row, e.g. a COCO image_id


def settings_path(responses_path: Path) -> Path:
    return responses_path.with_name(responses_path.stem + ".settings.json")


def read_done(path: Path) -> dict[str, dict[str, Any]]:
    """Rows already written, keyed by ``str(id)``; a trailing partial line (a crash mid-write) is cut off."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as f:  # drop the half-written last line so appends stay line-aligned
            f.truncate(end)
    fix = "delete the file to start over (or use another --out)"
    try:
        text = data[:end].decode("utf-8")
    except UnicodeDecodeError as err:
        raise ResumeError(f"{path}: not UTF-8 text (byte {err.start}); {fix}") from None
    done: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ResumeError(f"{path}: line {lineno} is not valid JSON ({err.msg}); {fix}") from None
        except RecursionError:
            raise ResumeError(f"{path}: line {lineno} is JSON nested too deeply to be a response row; {fix}") from None
        if not isinstance(row, dict) or not isinstance(row.get("id"), int | str) or isinstance(row.get("id"), bool):
            raise ResumeError(f"{path}: line {lineno} is not a response row with an \"id\" (int or string); {fix}")
        done[str(row["id"])] = row
    return done


def check_settings(path: Path, settings: dict[str, Any]) -> None:
    """Write the settings beside a new file; refuse to resume a file made with other settings. Settings left
    beside a missing or empty file (a run stopped before its first batch) are replaced."""
    sp = settings_path(path)
    has_rows = path.exists() and path.stat().st_size > 0
    if sp.exists() and has_rows:
        try:
            old = json.loads(sp.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as err:
            raise ResumeError(f"{sp}: unreadable generation settings ({str(err).splitlines()[0]}); delete it and "
                              f"{path.name} to regenerate, or use another --out") from None
        if old != settings:
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k)) \
                if isinstance(old, dict) else ["all"]
            old = old if isinstance(old, dict) else {}
            raise ResumeError(
                f"{path}: was generated with other settings ({', '.join(changed)} differ: "
                f"{ {k: old.get(k) for k in changed} } vs { {k: settings.get(k) for k in changed} }); "
                "use another --out directory or delete the file to regenerate"
            )
    else:
        atomic_write_json(sp, settings)


# The file being generated (for the one line a Ctrl-C prints): path, items done, items in all.
_current: dict[str, Any] = {}


def interrupted_message() -> str:
    if not _current:
        return "no generation was under way and no output set was left half-written: rerun the same command"
    try:
        saved = len(read_done(_current["path"]))
    except (OSError, ValueError):
        saved = _current["done"]
    return (f"{saved} of {_current['total']} responses are saved in {_current['path']}: rerun the same command to "
            "resume")


def check_same_questions(path: Path, items: Sequence[GenItem], done: dict[str, dict[str, Any]]) -> None:
    """Refuse to resume rows that answered another question or image under the same id (e.g. another data
    version of a benchmark, where an id can name a different question)."""
    for it in items:
        row = done.get(str(it.id))
        if row is not None and (row.get("question"), row.get("image")) != (it.question, it.image):
            raise ResumeError(
                f"{path}: item {it.id} was generated for another question or image "
                f"({row.get('image')!r}: {str(row.get('question'))[:60]!r}); the benchmark data changed: use "
                "another --out directory or delete the file to regenerate"
            )


def generate_jsonl(
    items: Sequence[GenItem],
    path: str | os.PathLike,
    generate_batch: Callable[[Sequence[GenItem]], Sequence[str]],
    *,
    settings: dict[str, Any],
    batch_size: int = 8,
    desc: str = "generate",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Generate every item not yet in ``path`` and return all rows in ``items`` order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_done(path)  # checked before anything is written: a bad file is refused as it is
    check_same_questions(path, items, done)
    check_settings(path, settings)
    todo = [it for it in items if str(it.id) not in done]
    _current.update(path=path, done=len(items) - len(todo), total=len(items))
    writing = True  # an OSError while the file is opened, appended to, flushed or closed is a disk fault
    try:
        with open(path, "a", encoding="utf-8") as f, tqdm(
            total=len(items), initial=len(items) - len(todo), desc=desc, unit="item", disable=not progress
        ) as bar:
            for batch in _chunks(todo, batch_size):
                writing = False
                texts = generate_batch(batch)
                writing = True
                for it, text in zip(batch, texts, strict=True):
                    row = {"id": it.id, "image": it.image, "question": it.question, **it.extra, "response": text}
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    done[str(it.id)] = row
                f.flush()
                os.fsync(f.fileno())
                bar.update(len(batch))
                _current["done"] += len(batch)
    except OSError as err:
        if not writing:
            raise
        raise ResumeError(f"{path}: cannot save the responses ({err.strerror or err}); free space or fix the "
                          f"permissions and rerun: the {_current['done']} saved so far are kept and the rerun "
                          "resumes") from None
    _current.clear()
    return [done[str(it.id)] for it in items]


def _chunks(seq: Sequence[GenItem], size: int) -> Iterable[Sequence[GenItem]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]
