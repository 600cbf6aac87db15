"""A small AST mutation-testing harness (docs/testing.md): one mutant at a time, targeted tests, a timeout.

Why not mutmut: mutmut 3 copies the tree into ``mutants/`` and instruments every function with trampolines;
it does not mutate decorated functions other than static and class methods (``@torch.no_grad``,
``@functools.lru_cache``, properties) nor module- and class-level tables (the POPE quirk constants), and it
cannot be told to mutate only a few methods of ``uedpo/trainer.py``. This harness never writes to the source
tree:

1. the parent process imports the target module and collects the given test files once (``--collect-only``:
   torch, transformers and the test modules are imported once, no test runs in the parent);
2. per mutant it forks; the child parses the module, applies ONE mutation to the AST, executes the mutated
   module in a scratch namespace and moves the mutated piece into the live module: a function or method gets
   the mutated ``__code__`` (and defaults) in place, so every ``from x import f`` alias runs the mutant; a
   module-level assignment is rebound in the module and in every loaded module (tests included) that imported
   the same object under the same name, as an edit of the source would reach them; a class-level assignment
   is rebound on the class (and a dataclass gets the mutated ``__init__``, where field defaults live). Every
   ``functools`` cache of the project is cleared, then ``pytest -x`` runs the test files in the child;
3. exit 0 = the mutant SURVIVED; a failing test, an error or the timeout = KILLED.

Operators (mutmut's usual set): arithmetic/bitwise operators swapped (+ -, * /, // /, % *, ** *, << >>,
& |, ^ &, and the augmented forms), comparisons (< <=, > >=, == !=, in / not in, is / is not), and/or,
``not x`` -> ``x``, ``-x`` -> ``x``, numbers n -> n + 1, True <-> False, strings s -> "XX" s "XX",
min <-> max, any <-> all, break <-> continue, and dropping one keyword argument of a call. Not mutated:
docstrings, annotations, decorators, f-strings, ``__all__``, and the text of exceptions, assertions,
log/warning calls and the ``check_*`` / ``_validate*`` validators (messages: the argument names they print).

Usage (from the repository root, the project venv, NLTK_DATA / UEDPO_DATA_DIR set as for the tests)::

    python tests/mutation/harness.py uedpo/loss.py tests/test_core_loss.py [--only f,C.m] [--json out.json]
    python tests/mutation/harness.py --list uedpo/loss.py          # enumerate the mutants only
"""

from __future__ import annotations

import argparse
import ast
import builtins
import dataclasses
import functools
import importlib
import json
import os
import select
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("uedpo", "evaluation", "inspector", "benchmarks_data")

BINOPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult, ast.Pow: ast.Mult, ast.LShift: ast.RShift, ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitAnd,
}
CMPOPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
NAME_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
MESSAGE_CALLS = {"debug", "info", "warning", "error", "exception", "critical", "warn", "print"}


@dataclass
class Mutant:
    index: int
    line: int
    col: int
    container: str  # "f", "C.m", "=NAME" (module assignment), "C=NAME" (class assignment)
    kind: str
    before: str
    after: str
    status: str = ""
    seconds: float = 0.0


@dataclass
class Site:
    node: ast.AST
    container: str
    kind: str
    apply: object = field(repr=False)  # callable(node) -> None, mutates the node in place
    keyword: int | None = None  # "keyword" sites: the index of the dropped keyword argument


def _container_of(stack: list[ast.AST]) -> str | None:
    """The patchable unit enclosing the node: a top-level function, a method of a top-level class, or a
    module/class-level assignment; None for anything else (module-level if/try, nested classes...)."""
    if not stack:
        return None
    top = stack[0]
    if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef):
        return top.name
    if isinstance(top, ast.ClassDef) and len(stack) > 1:
        member = stack[1]
        if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
            return f"{top.name}.{member.name}"
        names = _assigned_names(member)
        return f"{top.name}={','.join(names)}" if names else None
    names = _assigned_names(top)
    return f"={','.join(names)}" if names else None


def _assigned_names(stmt: ast.AST) -> list[str]:
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        targets = [stmt.target]
    else:
        return []
    names = []
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.append(node.id)
    return names


class _Finder:
    """Walks the module in source order and lists the mutation sites."""

    def __init__(self, tree: ast.Module):
        self.sites: list[Site] = []
        self._skipped: set[int] = set()
        self._visit(tree, [], in_message=False)

    def _skip_children(self, node: ast.AST) -> set[int]:
        """ids of child nodes never mutated: docstrings, annotations, decorators, returns annotations."""
        skip: set[int] = set()
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            skip.update(id(d) for d in node.decorator_list)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.returns is not None:
                skip.add(id(node.returns))
            args = node.args
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if a is not None and a.annotation is not None:
                    skip.add(id(a.annotation))
        if isinstance(node, ast.AnnAssign):
            skip.add(id(node.annotation))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            skip.add(id(node))
        return skip

    def _visit(self, node: ast.AST, stack: list[ast.AST], in_message: bool) -> None:
        if id(node) in self._skipped:
            return
        if isinstance(node, ast.If) and (_is_type_checking(node.test) or _is_main_guard(node.test)):
            return
        if isinstance(node, ast.JoinedStr):
            return  # f-strings: messages and labels
        if isinstance(node, ast.Raise | ast.Assert):
            in_message = True
        if isinstance(node, ast.Call):
            name = _call_name(node) or ""
            if name in MESSAGE_CALLS or name.startswith(("check_", "_check", "_validate")):
                in_message = True  # log text, or the argument names that validators put in messages
        self._sites(node, stack, in_message)
        self._skipped |= self._skip_children(node)
        child_stack = stack
        if isinstance(node, ast.stmt) and not isinstance(node, ast.Module):
            child_stack = [*stack, node] if len(stack) < 2 else stack
        for child in ast.iter_child_nodes(node):
            self._visit(child, child_stack, in_message=in_message)

    def _add(self, node, stack, kind, apply, keyword=None):
        container = _container_of(stack)
        if container is not None and container not in ("=__all__",):
            self.sites.append(Site(node, container, kind, apply, keyword))

    def _sites(self, node: ast.AST, stack: list[ast.AST], in_message: bool) -> None:
        if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in BINOPS:
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_str(node.left):
                return  # "%s" % x formatting
            new = BINOPS[type(node.op)]
            self._add(node, stack, "operator", lambda n, new=new: setattr(n, "op", new()))
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in CMPOPS:
                    new = CMPOPS[type(op)]

                    def flip(n, i=i, new=new):
                        n.ops[i] = new()

                    self._add(node, stack, "comparison", flip)
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            self._add(node, stack, "boolean", lambda n, new=new: setattr(n, "op", new()))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            self._add(node, stack, "unary", lambda n: setattr(n, "op", ast.UAdd()))
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                self._add(node, stack, "constant", lambda n: setattr(n, "value", not n.value))
            elif isinstance(value, int | float) and not isinstance(value, complex):
                self._add(node, stack, "number", lambda n: setattr(n, "value", n.value + 1))
            elif isinstance(value, str) and not in_message:
                self._add(node, stack, "string", lambda n: setattr(n, "value", "XX" + n.value + "XX"))
        elif isinstance(node, ast.Name) and node.id in NAME_SWAPS and isinstance(node.ctx, ast.Load):
            self._add(node, stack, "name", lambda n: setattr(n, "id", NAME_SWAPS[n.id]))
        elif isinstance(node, ast.Break | ast.Continue):
            self._add(node, stack, "loop", None)
        if isinstance(node, ast.Call) and not in_message:
            for i in range(len(node.keywords)):
                if node.keywords[i].arg is not None:
                    self._add(node, stack, "keyword", lambda n, i=i: n.keywords.pop(i), keyword=i)


def _is_str(node):
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_main_guard(test):
    return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"


def find_sites(source: str, only: set[str] | None) -> tuple[ast.Module, list[Site]]:
    tree = ast.parse(source)
    sites = _Finder(tree).sites
    if only:
        sites = [s for s in sites if s.container.split("=")[0] in only or s.container in only]
    return tree, sites


def _render(node: ast.AST) -> str:
    if isinstance(node, ast.Break):
        return "break"
    if isinstance(node, ast.Continue):
        return "continue"
    text = ast.unparse(node)
    return text if len(text) <= 120 else text[:117] + "..."


def _apply(site: Site) -> tuple[str, str]:
    """Mutate ``site.node`` in place; return (before, after) source snippets."""
    node = site.node
    if site.kind == "keyword":
        kw = node.keywords[site.keyword]
        before = f"{_render(node.func)}(..., {kw.arg}={_render(kw.value)})"
        site.apply(node)
        return before, f"{_render(node.func)}(...) without {kw.arg}="
    before = _render(node)
    if site.kind == "loop":
        node.__class__ = ast.Continue if isinstance(node, ast.Break) else ast.Break
    else:
        site.apply(node)
    return before, _render(node)


def enumerate_mutants(path: Path, only: set[str] | None) -> list[Mutant]:
    source = path.read_text(encoding="utf-8")
    mutants = []
    for index in range(len(find_sites(source, only)[1])):
        tree, sites = find_sites(source, only)
        site = sites[index]
        before, after = _apply(site)
        mutants.append(Mutant(index, site.node.lineno, site.node.col_offset, site.container, site.kind,
                              before, after))
    return mutants


# -- applying a mutant in the child ------------------------------------------------------------------------
def _unwrap(obj):
    """The plain function objects behind a module/class attribute (property accessors included)."""
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if isinstance(obj, property):
        return [f for acc in (obj.fget, obj.fset, obj.fdel) if acc is not None for f in _unwrap(acc)]
    seen = 0
    while hasattr(obj, "__wrapped__") and seen < 10:
        obj = obj.__wrapped__
        seen += 1
    return [obj] if hasattr(obj, "__code__") else []


def _patch_function(old, new) -> None:
    olds, news = _unwrap(old), _unwrap(new)
    if len(olds) != len(news) or not olds:
        raise RuntimeError("cannot patch: function shapes differ")
    for o, n in zip(olds, news, strict=True):
        o.__code__ = n.__code__
        o.__defaults__ = n.__defaults__
        o.__kwdefaults__ = n.__kwdefaults__


def install_mutant(module, path: Path, only: set[str] | None, index: int) -> None:
    source = path.read_text(encoding="utf-8")
    tree, sites = find_sites(source, only)
    site = sites[index]
    _apply(site)
    ast.fix_missing_locations(tree)
    code = compile(tree, str(path), "exec")
    namespace = {"__name__": module.__name__, "__file__": module.__file__, "__builtins__": builtins,
                 "__package__": module.__package__, "__spec__": module.__spec__}
    exec(code, namespace)
    container = site.container
    if "=" in container:
        owner_name, names = container.split("=", 1)
        for name in names.split(","):
            if owner_name:
                old_cls, new_cls = getattr(module, owner_name), namespace[owner_name]
                setattr(old_cls, name, getattr(new_cls, name))
                if dataclasses.is_dataclass(old_cls):  # a field default lives in the generated __init__
                    old_cls.__init__ = new_cls.__init__
            else:
                _rebind_everywhere(module, name, namespace[name])
    elif "." in container:
        cls_name, member = container.split(".", 1)
        _patch_function(vars(getattr(module, cls_name))[member], vars(namespace[cls_name])[member])
    else:
        _patch_function(getattr(module, container), namespace[container])
    _clear_caches()


def _rebind_everywhere(module, name: str, value) -> None:
    """Rebind a module-level name, and every ``from module import name`` alias of the same object in the
    project's loaded modules (test modules included), so that a mutated table reaches its importers."""
    old = getattr(module, name, None)
    setattr(module, name, value)
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or mod is module or not mod_name.startswith((*PROJECT_PACKAGES, "test")):
            continue
        for alias, obj in list(vars(mod).items()):
            if obj is old and alias == name:
                setattr(mod, alias, value)


def _clear_caches() -> None:
    for name, mod in list(sys.modules.items()):
        if mod is None or not name.startswith(PROJECT_PACKAGES):
            continue
        for value in list(vars(mod).values()):
            targets = [value]
            if isinstance(value, type):
                targets = [v.__func__ if isinstance(v, staticmethod | classmethod) else v
                           for v in vars(value).values()]
            for t in targets:
                if isinstance(t, functools._lru_cache_wrapper):
                    t.cache_clear()


# -- running ------------------------------------------------------------------------------------------------
def _run_child(module, path, only, index, tests, log_path) -> int:
    """Fork; the child installs mutant ``index`` (None: no mutation) and runs pytest. Returns the pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.setpgid(0, 0)
        if index is not None:
            install_mutant(module, path, only, index)
        import pytest

        code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore", *tests])
    except BaseException as exc:  # a mutant that breaks the import or the patch counts as killed
        print(f"harness: {type(exc).__name__}: {exc}", flush=True)
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def _wait(pid: int, timeout: float) -> tuple[str, float]:
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return ("survived" if code == 0 else "killed" if code in (1, 99) else f"killed(exit {code})",
                    time.monotonic() - start)
        if time.monotonic() - start > timeout:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - start
        select.select([], [], [], 0.05)


def module_name(path: Path) -> str:
    rel = path.resolve().relative_to(REPO).with_suffix("")
    return ".".join(rel.parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", nargs="?", help="source file to mutate, e.g. uedpo/loss.py")
    parser.add_argument("tests", nargs="*", help="test files (or node ids) to run against each mutant")
    parser.add_argument("--only", default="", help="comma-separated functions / Class.method names to mutate")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--indices", default="", help="comma-separated mutant indices to run (default: all)")
    parser.add_argument("--timeout", type=float, default=0.0,
                        help="seconds per mutant (default: 3x baseline + 15)")
    parser.add_argument("--json", default="", help="write every mutant and its status here")
    parser.add_argument("--summary", default="", help="print the table of every *.json in this folder")
    parser.add_argument("--log-dir", default="/tmp/uedpo-mutation-logs", help="per-mutant pytest output")
    args = parser.parse_intermixed_args(argv)

    if args.summary:
        print(summary(Path(args.summary)))
        return 0
    if not args.module:
        parser.error("give the module to mutate")
    os.chdir(REPO)
    sys.path.insert(0, str(REPO / "tests"))
    path = (REPO / args.module).resolve()
    only = {s for s in args.only.split(",") if s} or None
    mutants = enumerate_mutants(path, only)
    if args.list:
        for m in mutants:
            print(f"{m.index:4d} {path.name}:{m.line}:{m.col} [{m.container}] {m.kind}: {m.before!r} -> "
                  f"{m.after!r}")
        print(f"{len(mutants)} mutants")
        return 0
    if not args.tests:
        parser.error("give the test files to run")
    module = importlib.import_module(module_name(path))
    import pytest

    rc = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *args.tests])  # warm imports
    if rc != 0:
        print("collection failed", file=sys.stderr)
        return 2
    log_dir = Path(args.log_dir) / module_name(path)
    log_dir.mkdir(parents=True, exist_ok=True)
    pid = _run_child(module, path, only, None, args.tests, log_dir / "baseline.log")
    status, baseline = _wait(pid, 1800)
    if status != "survived":
        print(f"baseline run failed ({status}); see {log_dir / 'baseline.log'}", file=sys.stderr)
        return 2
    timeout = args.timeout or 3 * baseline + 15
    print(f"{path.relative_to(REPO)}: {len(mutants)} mutants, baseline {baseline:.1f}s, "
          f"timeout {timeout:.0f}s", flush=True)
    selected = {int(i) for i in args.indices.split(",") if i} or None
    for m in mutants:
        if selected is not None and m.index not in selected:
            m.status = "not run"
            continue
        pid = _run_child(module, path, only, m.index, args.tests, log_dir / f"{m.index}.log")
        m.status, m.seconds = _wait(pid, timeout)
        if m.status == "survived":
            print(f"SURVIVED {m.index:4d} {path.name}:{m.line} [{m.container}] {m.kind}: {m.before!r} -> "
                  f"{m.after!r}", flush=True)
        if args.json:
            _write(args, path, mutants, baseline)
    run = [m for m in mutants if m.status != "not run"]
    survived = sum(m.status == "survived" for m in run)
    killed = len(run) - survived
    score = 100.0 * killed / len(run) if run else 100.0
    print(f"{path.relative_to(REPO)}: {len(run)} mutants, {killed} killed, {survived} survived, "
          f"score {score:.1f}%")
    if args.json:
        _write(args, path, mutants, baseline)
    return 0


def summary(folder: Path) -> str:
    """A Markdown table: per module, mutants run, killed, survived, score."""
    rows = ["| target | module | mutants | killed | survived | score |", "|---|---|---:|---:|---:|---:|"]
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        run = [m for m in data["mutants"] if m["status"] not in ("", "not run")]
        survived = sum(m["status"] == "survived" for m in run)
        module = data["module"] + (f" ({data['only']})" if data["only"] else "")
        score = 100.0 * (len(run) - survived) / len(run) if run else 100.0
        rows.append(f"| {path.stem} | `{module}` | {len(run)} | {len(run) - survived} | {survived} "
                    f"| {score:.1f}% |")
    return "\n".join(rows)


def _write(args, path, mutants, baseline):
    Path(args.json).write_text(json.dumps({
        "module": str(path.relative_to(REPO)), "tests": args.tests, "only": args.only, "baseline_s": baseline,
        "mutants": [asdict(m) for m in mutants],
    }, indent=1), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
