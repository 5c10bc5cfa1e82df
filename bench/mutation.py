"""Mutation testing of the analysis rules, the commune assignment and the normalisation.

A *mutant* is the source with one small change a programmer could plausibly make:
a comparison turned (``<`` to ``<=``, ``==`` to ``!=``), an arithmetic operator
swapped (``+`` to ``-``, ``*`` to ``/``), ``and`` for ``or``, a ``not`` dropped, a
number changed (``n`` to ``n + 1``, ``0.0`` to ``1.0``), ``True`` for ``False``, or
a keyword's text option spoiled (``closed="left"`` to ``closed="XXleftXX"``). Each
mutant is run against the tests that cover its module; a mutant that some test
fails on (or that times out) is *killed*, one the tests pass on *survives*: either
the change makes no difference (an equivalent mutant) or no test looks at what it
changes.

Mutants are made from the syntax tree (``ast``), one at a time, in a copy of
``src/`` in a temporary folder: the working tree is never changed, so an
interrupted run leaves no mutant behind. Docstrings, annotations and the
``__future__`` import are left alone.

Usage (from the repository root, with the Python of the environment where
qostool's dependencies are installed)::

    python bench/mutation.py --list                   # count the mutants, run nothing
    python bench/mutation.py --sample 150 --seed 1    # a fixed random sample of them
    python bench/mutation.py                          # every mutant (hours on 2 cores)
    python bench/mutation.py --module src/qostool/analyze/rules.py --jobs 2
    python bench/mutation.py --survivors-of bench/.work/mutation/report.json --out ...

The report goes to ``--out`` (default ``bench/.work/mutation/``): ``report.json``
(every mutant: module, line, change, outcome, the first failing test) and
``report.md`` (the kill rate per module and every survivor with its line of
source). Exit code 0 when the run completed, 2 when the tests fail on the
unchanged source (nothing can be measured then). See bench/README_mutation.md for
the results of a run and why each survivor survives.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]

#: The modules mutated, each with the tests run against its mutants: the fast tests
#: of that module (the slowest, such as the national grid or the bit-identity runs,
#: are left out: they exercise the same rules at scale).
MODULES: Final[dict[str, tuple[str, ...]]] = {
    "src/qostool/analyze/rules.py": (
        "tests/test_analyze_stats.py",
        "tests/test_rule_edges.py",
        "tests/test_config.py",
    ),
    "src/qostool/analyze/stats.py": (
        "tests/test_analyze_stats.py",
        "tests/test_rule_edges.py",
    ),
    "src/qostool/analyze/tdist.py": ("tests/test_tdist.py", "tests/test_analyze_stats.py"),
    "src/qostool/analyze/run.py": (
        "tests/test_rule_edges.py",
        "tests/test_analyze.py",
        "tests/test_analyze_stats.py",
        "tests/test_export_contents.py",
    ),
    "src/qostool/analyze/export.py": (
        "tests/test_export_contents.py",
        "tests/test_hostile_output.py",
        "tests/test_analyze.py",
    ),
    "src/qostool/geo/assign.py": ("tests/test_assign.py",),
    "src/qostool/ingest/normalize.py": (
        "tests/test_normalize.py",
        "tests/test_rule_edges.py",
        "tests/test_ingest_formats.py",
        "tests/test_ingest_rows.py",
    ),
}
#: Tests left out of every run: minutes of the same rules at national scale.
DESELECT: Final = (
    "tests/test_assign.py::test_national_grid_equals_reference",
    "tests/test_analyze_stats.py::test_the_same_input_gives_bit_identical_statistics",
)

_COMPARE_SWAPS: Final[dict[type[ast.cmpop], type[ast.cmpop]]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BINARY_SWAPS: Final[dict[type[ast.operator], type[ast.operator]]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
}
_SYMBOLS: Final[dict[type[ast.AST], str]] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.And: "and",
    ast.Or: "or",
}


@dataclass(frozen=True)
class Mutant:
    """One change: the ``index``-th mutation point of ``module`` (in source order)."""

    module: str
    index: int
    line: int
    change: str


@dataclass
class Outcome:
    """What the tests made of a mutant."""

    mutant: Mutant
    status: str  # killed, survived, timeout
    seconds: float
    failed: str = ""


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """Ids of the nodes never mutated: docstrings, annotations, ``from __future__``."""
    skipped: set[int] = set()

    def skip(node: ast.AST | None) -> None:
        if node is not None:
            skipped.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip(first)  # a docstring
        if isinstance(node, ast.AnnAssign | ast.arg):
            skip(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            skip(node.returns)
        elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
            skip(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip(node)  # an attribute's docstring
    return skipped


def _points(tree: ast.Module) -> Iterator[tuple[ast.AST, str, int]]:
    """Every mutation point as (node, description, line), in a fixed order."""
    skipped = _skipped_nodes(tree)
    keyword_texts = {
        id(k.value)
        for k in ast.walk(tree)
        if isinstance(k, ast.keyword)
        and isinstance(k.value, ast.Constant)
        and isinstance(k.value.value, str)
    }
    nodes = sorted(
        (n for n in ast.walk(tree) if hasattr(n, "lineno") and id(n) not in skipped),
        key=lambda n: (n.lineno, n.col_offset, type(n).__name__),  # type: ignore[attr-defined]
    )
    for node in nodes:
        line: int = node.lineno  # type: ignore[attr-defined]
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _COMPARE_SWAPS:
                    new = _SYMBOLS[_COMPARE_SWAPS[type(op)]]
                    yield node, f"compare#{i}: {_SYMBOLS[type(op)]} -> {new}", line
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY_SWAPS:
            new = _SYMBOLS[_BINARY_SWAPS[type(node.op)]]
            yield node, f"binop: {_SYMBOLS[type(node.op)]} -> {new}", line
        elif isinstance(node, ast.AugAssign) and type(node.op) in _BINARY_SWAPS:
            new = _SYMBOLS[_BINARY_SWAPS[type(node.op)]]
            yield node, f"augassign: {_SYMBOLS[type(node.op)]}= -> {new}=", line
        elif isinstance(node, ast.BoolOp):
            new = "or" if isinstance(node.op, ast.And) else "and"
            yield node, f"boolop: {_SYMBOLS[type(node.op)]} -> {new}", line
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.Invert):
            yield node, f"unary: drop {'not' if isinstance(node.op, ast.Not) else '~'}", line
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield node, "unary: drop -", line
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                yield node, f"constant: {value} -> {not value}", line
            elif isinstance(value, int | float):
                yield node, f"constant: {value!r} -> {_number(value)!r}", line
            elif isinstance(value, str) and id(node) in keyword_texts:
                yield node, f"keyword text: {value!r} -> {'XX' + value + 'XX'!r}", line


def _number(value: int | float) -> int | float:
    """The mutated number: ``n + 1`` (0 and 1 to each other, a float 0.0 to 1.0)."""
    if isinstance(value, int):
        return 1 if value == 0 else 0 if value == 1 else value + 1
    return 1.0 if value == 0 else value + 1.0


def _mutate(node: ast.AST, description: str) -> None:
    """Apply the point's change to ``node`` in place."""
    if isinstance(node, ast.Compare):
        i = int(description.split(":", maxsplit=1)[0].removeprefix("compare#"))
        node.ops[i] = _COMPARE_SWAPS[type(node.ops[i])]()
    elif isinstance(node, ast.BinOp | ast.AugAssign):
        node.op = _BINARY_SWAPS[type(node.op)]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            node.value = not value
        elif isinstance(value, int | float):
            node.value = _number(value)
        else:
            node.value = f"XX{value}XX"
    else:
        raise AssertionError(f"no mutation for {ast.dump(node)}")


class _DropUnary(ast.NodeTransformer):
    """Replace one unary operation by its operand (``not x`` -> ``x``, ``-x`` -> ``x``)."""

    def __init__(self, target: ast.AST) -> None:
        self.target = target

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if node is self.target:
            return self.generic_visit(node.operand)
        return self.generic_visit(node)


def mutants_of(module: str) -> list[Mutant]:
    """Every mutant of a module, in source order."""
    tree = ast.parse((REPO / module).read_text(encoding="utf-8"))
    return [Mutant(module, i, line, change) for i, (_, change, line) in enumerate(_points(tree))]


def mutated_source(mutant: Mutant) -> str:
    """The module's source with the mutant's change."""
    tree = ast.parse((REPO / mutant.module).read_text(encoding="utf-8"))
    points = list(_points(tree))
    node, change, _ = points[mutant.index]
    assert change == mutant.change, (mutant, change)
    if isinstance(node, ast.UnaryOp):
        tree = _DropUnary(node).visit(tree)
    else:
        _mutate(node, change)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _pytest(src: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    """Run ``tests`` with ``src`` first on the path: (killed|survived|timeout, seconds, failed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QOSTOOL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(src), str(REPO)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant never runs another mutant's bytecode
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header"]
    cmd += [f"--deselect={d}" for d in DESELECT]
    cmd += list(tests)
    start = time.monotonic()
    try:
        done = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start, ""
    seconds = time.monotonic() - start
    if done.returncode == 0:
        return "survived", seconds, ""
    failed = next(
        (line.split(" ")[1] for line in done.stdout.splitlines() if line.startswith("FAILED ")),
        done.stdout.strip().splitlines()[-1]
        if done.stdout.strip()
        else "exit " + str(done.returncode),
    )
    return "killed", seconds, failed


def _copy_src(into: Path) -> Path:
    src = into / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


def _run_worker(mutants: list[Mutant], timeouts: dict[str, float]) -> list[Outcome]:
    """Run mutants one after the other in this worker's own copy of ``src/``."""
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="qostool-mutation-") as tmp:
        src = _copy_src(Path(tmp))
        for mutant in mutants:
            target = src / Path(mutant.module).relative_to("src")
            original = target.read_text(encoding="utf-8")
            target.write_text(mutated_source(mutant), encoding="utf-8")
            try:
                status, seconds, failed = _pytest(
                    src, MODULES[mutant.module], timeouts[mutant.module]
                )
            finally:
                target.write_text(original, encoding="utf-8")
            outcomes.append(Outcome(mutant, status, round(seconds, 1), failed))
            print(f"{status:8} {mutant.module}:{mutant.line} {mutant.change}", flush=True)
    return outcomes


def _baseline(modules: list[str]) -> dict[str, float]:
    """Each module's tests on the unchanged source: they must pass; their time sets the limit."""
    timeouts = {}
    with tempfile.TemporaryDirectory(prefix="qostool-mutation-") as tmp:
        src = _copy_src(Path(tmp))
        for module in modules:
            status, seconds, failed = _pytest(src, MODULES[module], timeout=1800)
            if status != "survived":
                print(f"the tests of {module} fail on the unchanged source: {failed}")
                raise SystemExit(2)
            timeouts[module] = max(60.0, 5 * seconds)
            print(f"baseline {module}: {seconds:.1f} s", flush=True)
    return timeouts


def _source_line(module: str, line: int) -> str:
    return (REPO / module).read_text(encoding="utf-8").splitlines()[line - 1].strip()


def write_report(outcomes: list[Outcome], out: Path, *, total: int, sample: int | None) -> None:
    """``report.json`` with every outcome, ``report.md`` with the rates and the survivors."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(
        json.dumps([asdict(o) for o in outcomes], indent=2) + "\n", encoding="utf-8"
    )
    lines = ["# Mutation run", ""]
    run = len(outcomes)
    lines.append(
        f"{run} mutants run"
        + (f" (a sample of {sample} of the {total})" if sample is not None else f" of {total}")
        + "."
    )
    lines += [
        "",
        "| module | mutants | killed | timeout | survived | kill rate |",
        "|---|---|---|---|---|---|",
    ]
    modules = sorted({o.mutant.module for o in outcomes})
    for module in [*modules, "all"]:
        mine = [o for o in outcomes if module in ("all", o.mutant.module)]
        killed = sum(o.status == "killed" for o in mine)
        timeout = sum(o.status == "timeout" for o in mine)
        survived = sum(o.status == "survived" for o in mine)
        rate = (killed + timeout) / len(mine) if mine else 0.0
        lines.append(f"| {module} | {len(mine)} | {killed} | {timeout} | {survived} | {rate:.0%} |")
    lines += ["", "## Survivors", ""]
    for o in sorted(outcomes, key=lambda o: (o.mutant.module, o.mutant.line, o.mutant.index)):
        if o.status == "survived":
            m = o.mutant
            lines.append(f"- `{m.module}:{m.line}` {m.change}: `{_source_line(m.module, m.line)}`")
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="repeatable")
    parser.add_argument("--sample", type=int, help="run this many mutants, chosen at random")
    parser.add_argument("--seed", type=int, default=1, help="of the sample (default 1)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--survivors-of",
        type=Path,
        metavar="REPORT_JSON",
        help="run again only the survivors of an earlier run (e.g. after adding tests)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / ".work" / "mutation")
    args = parser.parse_args(argv)

    modules = args.module or list(MODULES)
    every = [m for module in modules for m in mutants_of(module)]
    chosen = every
    if args.sample is not None and args.sample < len(every):
        chosen = sorted(
            random.Random(args.seed).sample(every, args.sample),
            key=lambda m: (m.module, m.index),
        )
    if args.survivors_of is not None:
        earlier = json.loads(args.survivors_of.read_text(encoding="utf-8"))
        wanted = {
            (o["mutant"]["module"], o["mutant"]["index"], o["mutant"]["change"])
            for o in earlier
            if o["status"] == "survived"
        }
        chosen = [m for m in every if (m.module, m.index, m.change) in wanted]
        if len(chosen) != len(wanted):
            print("the source changed since that run: its mutants are numbered otherwise")
            return 2
    if args.list:
        for m in chosen:
            print(f"{m.module}:{m.line} #{m.index} {m.change}")
        print(f"{len(chosen)} of {len(every)} mutants")
        return 0
    for m in chosen:  # every mutant must be valid Python before anything runs
        compile(mutated_source(m), m.module, "exec")
    timeouts = _baseline(sorted({m.module for m in chosen}))
    shares: list[list[Mutant]] = [chosen[i :: args.jobs] for i in range(args.jobs)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = pool.map(lambda part: _run_worker(part, timeouts), shares)
        outcomes = [o for part in results for o in part]
    outcomes.sort(key=lambda o: (o.mutant.module, o.mutant.index))
    write_report(outcomes, args.out, total=len(every), sample=args.sample)
    killed = sum(o.status != "survived" for o in outcomes)
    print(f"killed {killed} of {len(outcomes)}; report in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
