"""Every config key with its default and reason, read from the source of :class:`uedpo.train.config.TrainConfig`.

The reasons are the trailing comments of the dataclass fields (continued on comment-only lines below a field)
and the groups are its ``# -- name ---`` lines, so ``uedpo-train --help`` can list them without a second copy
that drifts. Reading the source with :mod:`ast` and :mod:`tokenize` takes milliseconds and imports neither
torch nor transformers.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

CONFIG_SOURCE = Path(__file__).with_name("config.py")
CLASS_NAME = "TrainConfig"
GROUP = re.compile(r"^#\s*--\s*(.*?)\s*-*$")  # "# -- model ----": a group heading
YAML_WORDS = {"None": "null", "True": "true", "False": "false"}


@dataclass(frozen=True)
class KeyDoc:
    group: str
    name: str
    default: str  # as written in YAML (null, true, '')
    reason: str


def _default_text(node: ast.expr | None, source: str) -> str:
    if node is None:
        return "(required)"
    text = ast.get_source_segment(source, node) or ""
    if text in YAML_WORDS:
        return YAML_WORDS[text]
    return "''" if text in ('""', "''") else text


def config_keys(source_path: Path = CONFIG_SOURCE) -> list[KeyDoc]:
    """The fields of ``TrainConfig`` in source order, with group, default and reason."""
    source = source_path.read_text(encoding="utf-8")
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == CLASS_NAME)
    fields = [(n.lineno, n.target.id, _default_text(n.value, source)) for n in cls.body
              if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    start, end = cls.lineno, cls.end_lineno or cls.lineno
    comments: dict[int, tuple[str, bool]] = {}  # line -> (text, on a line of its own)
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if not start <= tok.start[0] <= end:
            continue
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = (tok.string, tok.start[0] not in code_lines)
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.add(tok.start[0])
    field_lines = {line for line, _, _ in fields}
    docs, group = [], ""
    headings = sorted((line, GROUP.match(text)) for line, (text, alone) in comments.items()
                      if alone and GROUP.match(text))
    for index, (line, name, default) in enumerate(fields):
        while headings and headings[0][0] < line:
            group = headings.pop(0)[1][1]
        parts = [comments[line][0]] if line in comments and not comments[line][1] else []
        stop = fields[index + 1][0] if index + 1 < len(fields) else end + 1
        for follow in range(line + 1, stop):  # comment-only continuation lines, up to a heading or a field
            if follow in field_lines or follow not in comments or not comments[follow][1]:
                break
            if GROUP.match(comments[follow][0]):
                break
            parts.append(comments[follow][0])
        reason = " ".join(p.lstrip("#").strip() for p in parts)
        docs.append(KeyDoc(group=group, name=name, default=default, reason=reason))
    return docs


def keys_help(width: int = 110) -> str:
    """The ``--help`` epilog: one entry per key, grouped, ``key = default  reason``."""
    lines = ["config keys (YAML file or key=value; default, then the reason or the source):"]
    group = None
    for doc in config_keys():
        if doc.group != group:
            group = doc.group
            lines.append(f"\n  {group}:")
        head = f"    {doc.name} = {doc.default}"
        lines.extend(textwrap.wrap(f"{head}  {doc.reason}", width=width, subsequent_indent=" " * 8)
                     or [head])
    return "\n".join(lines)
