"""The packages import one way (README, "Packages and what they may import"). Every import in the four
packages is read with ``ast`` (function-level imports included, ``TYPE_CHECKING`` blocks too), and each rule
below is a set of forbidden arrows; a new import that breaks one fails here with the file and the line.

    uedpo.io, .interrupts, .errors      leaf: the standard library only
    uedpo core (noise, signals, ...)    torch; no transformers, peft, models, trainer
    uedpo.models / train / trainer      the core, transformers, peft; no benchmark, scorer or app
    benchmarks_data (loaders, types)    uedpo.io; no scorer, no model
    evaluation scorers                  their own package, results, uedpo.io, the loaders' type modules
    evaluation wiring (benches, cli...) everything below
    ShapesWorld (benchmarks_data.shapesworld)  the library; imported by no library module
    CLIs and the inspector              on top; imported by nothing
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("uedpo", "evaluation", "inspector", "benchmarks_data")

LEAVES = ("uedpo.io", "uedpo.interrupts", "uedpo.errors", "uedpo.source")
CORE = ("uedpo.noise", "uedpo.signals", "uedpo.exploration", "uedpo.loss", "uedpo.baselines", "uedpo._checks")
SCORERS = ("evaluation.amber", "evaluation.chair", "evaluation.pope", "evaluation.mmhal")
# What the loaders hand the scorers: record types and the vocabulary, which read no file.
TYPE_MODULES = ("benchmarks_data.amber_types", "benchmarks_data.coco_vocab")
SHAPESWORLD = "benchmarks_data.shapesworld"
# The top layer: command lines and the app. Nothing in the library may import them.
TOP = ("evaluation.cli", "benchmarks_data.cli", "uedpo.train.cli", "uedpo.export", "inspector", "uedpo.demo")


def _top(module: str) -> bool:
    return _under(module, TOP) or module.endswith(".__main__")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (``from a.b import c`` gives ``a.b``)
    where: str  # path:line

    def __str__(self) -> str:
        return f"{self.where}: {self.module} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> list[Import]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = _module_name(path)
            is_package = path.name == "__init__.py"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    if node.level:  # relative: resolve against the importing module's package
                        base = module.split(".")
                        base = base[: len(base) - node.level + (1 if is_package else 0)]
                        targets = [".".join([*base, *([node.module] if node.module else [])])]
                    else:
                        targets = [node.module or ""]
                else:
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found += [Import(module, target, where) for target in targets]
    return found


IMPORTS = _imports()


def _under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _project(name: str) -> bool:
    return _under(name, PACKAGES)


def _violations(importer, forbidden) -> list[str]:
    return [str(i) for i in IMPORTS if importer(i.module) and forbidden(i.target)]


RULES = {
    "the leaves import no project module":
        (lambda m: _under(m, LEAVES), lambda t: _project(t) and not _under(t, LEAVES)),
    "the core is pure torch (no transformers, peft, models or trainer)":
        (lambda m: _under(m, CORE),
         lambda t: _under(t, ("transformers", "peft", "accelerate")) or (_project(t) and not _under(t, (*CORE, *LEAVES)))),
    "uedpo knows no benchmark, scorer or app":
        (lambda m: _under(m, "uedpo") and not _top(m), lambda t: _under(t, ("evaluation", "benchmarks_data", "inspector"))),
    "the model adapters know no trainer":
        (lambda m: _under(m, "uedpo.models"), lambda t: _under(t, ("uedpo.train", "uedpo.trainer"))),
    "loaders import no scorer, model or app (uedpo.io only)":
        (lambda m: _under(m, "benchmarks_data") and not _under(m, (SHAPESWORLD, "benchmarks_data.cli")),
         lambda t: _project(t) and not _under(t, ("benchmarks_data", *LEAVES))),
    "loaders do not import ShapesWorld":
        (lambda m: _under(m, "benchmarks_data") and not _under(m, (SHAPESWORLD, "benchmarks_data.cli")),
         lambda t: _under(t, SHAPESWORLD)),
    "scorers import scorers, results, uedpo.io and the loaders' type modules only (no judge, model, wiring)":
        (lambda m: _under(m, SCORERS),
         lambda t: _project(t) and not _under(t, (*SCORERS, *TYPE_MODULES, *LEAVES, "evaluation.results"))),
    "no library module imports ShapesWorld (it registers itself through entry points)":
        (lambda m: not (_under(m, SHAPESWORLD) or _top(m)), lambda t: _under(t, SHAPESWORLD)),
    "transformers and peft only in the adapters, the trainer, export, demo and ShapesWorld's model builder":
        (lambda m: not _under(m, ("uedpo.models", "uedpo.train", "uedpo.trainer", "uedpo.export", "uedpo.demo",
                                  f"{SHAPESWORLD}.model")),
         lambda t: _under(t, ("transformers", "peft"))),
    "nothing imports the CLIs or the app":
        (lambda m: not _top(m), lambda t: _under(t, TOP)),
}


@pytest.mark.parametrize("rule", list(RULES), ids=[f"rule{n}" for n in range(1, len(RULES) + 1)])
def test_import_rule(rule):
    importer, forbidden = RULES[rule]
    assert _violations(importer, forbidden) == [], rule


def test_the_walker_sees_function_level_and_relative_imports(tmp_path):
    """The check itself: an import inside a function, and a known arrow, are found (else every rule passes)."""
    targets = {(i.module, i.target) for i in IMPORTS}
    assert ("evaluation.benches.amber", "benchmarks_data.amber") in targets
    assert ("uedpo.train.streams", "importlib.metadata") in targets
    lazy = [i for i in IMPORTS if i.module == "evaluation.blindspots" and i.target == "benchmarks_data.amber"]
    assert lazy, "the function-level import in evaluation.blindspots.amber_blindspots was not seen"
    importer, forbidden = RULES["uedpo knows no benchmark, scorer or app"]
    assert importer("uedpo.trainer") and forbidden("evaluation.results")
