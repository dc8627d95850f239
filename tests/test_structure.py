"""The package's structure: no import cycles, dependencies declared exactly as used, one
multiple-testing path (statsmodels) and one design-matrix path (formulaic)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "evalkit"

#: Declared dependencies that evalkit uses without importing them, and the code that shows it.
USED_INDIRECTLY = {
    "openpyxl": 'engine="openpyxl"',     # pandas.ExcelFile(..., engine="openpyxl") in io.py
    "pyarrow": 'engine="pyarrow"',       # pandas.read_parquet(..., engine="pyarrow") in io.py
}


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _imports(tree: ast.AST, module: str, is_pkg: bool, mods) -> set[str]:
    """evalkit modules imported anywhere in a module (top level or inside functions)."""
    package = module if is_pkg else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
            names = subs + ([target] if len(subs) < len(node.names) else [])
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        # importing from one's own package (``from . import x``) is how packages work, not a cycle
        found |= {n for n in names if n in mods and n != module and not module.startswith(n + ".")}
    return found


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(ast.parse(path.read_text(encoding="utf-8")), m, is_pkg, mods)
            for m, (path, is_pkg) in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 50
    found = cycles(graph)
    detail = "; ".join(" <-> ".join(c) + " (" + ", ".join(f"{a} imports {sorted(graph[a] & set(c))}"
                                                        for a in c) + ")" for c in found)
    assert not found, f"import cycles in evalkit: {detail}"


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_report_never_imports_models():
    graph = import_graph()
    bad = {m: sorted(d for d in deps if d.startswith("evalkit.models"))
           for m, deps in graph.items() if m.startswith("evalkit.report")}
    assert not {m: d for m, d in bad.items() if d}, "flow is one-way: report/ never imports models/"


# ====================================================================== dependencies
def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "evalkit" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _names(requirements) -> set[str]:
    return {_normalise(re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0]) for req in requirements}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return _names(project["dependencies"])


def _optional() -> set[str]:
    """Distributions of the optional extras (not the test extra): imported only behind a guard."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return set().union(*(_names(reqs) for name, reqs in extras.items() if name != "test"))


def test_dependencies_are_declared_exactly_as_used():
    dists = metadata.packages_distributions()
    used = {}
    for module, files in _third_party_imports().items():
        names = dists.get(module)
        assert names, f"{module} is imported ({sorted(files)[0]}) but not installed"
        used[_normalise(names[0])] = files
    source = "\n".join(p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py"))
    for dist, marker in USED_INDIRECTLY.items():
        assert marker in source, f"{dist} is listed as used through pandas ({marker}) but is not"
        used.setdefault(dist, {"(through pandas)"})
    declared, optional = _declared(), _optional()
    undeclared = {d: sorted(f)[:2] for d, f in used.items() if d not in declared | optional}
    unused = sorted(declared - set(used))
    assert not undeclared, f"imported but not in pyproject's dependencies: {undeclared}"
    assert not unused, f"declared in pyproject but never used: {unused}"
    # an optional extra's import must not break the package without it
    for dist in optional & set(used):
        for file in used[dist]:
            text = (ROOT / file).read_text(encoding="utf-8")
            assert "except ImportError" in text, f"{file} imports the optional {dist} unguarded"


# ====================================================================== one path for each job
def test_p_value_adjustment_is_statsmodels():
    from evalkit.models.multiplicity import adjust_p

    rng = np.random.default_rng(0)
    for _ in range(8):
        p = rng.random(rng.integers(1, 25)) ** 3
        for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni")):
            np.testing.assert_allclose(adjust_p(p, ours), multipletests(p, method=theirs)[1],
                                       rtol=0, atol=1e-15)
    np.testing.assert_array_equal(adjust_p([0.2, np.nan], "holm"), [0.2, np.nan])


def test_no_hand_written_multiple_testing():
    """Holm and BH are cumulative maxima/minima of scaled sorted p-values: only statsmodels does
    that now (evalkit.models.multiplicity)."""
    offenders = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                 if re.search(r"(maximum|minimum)\.accumulate\(", p.read_text(encoding="utf-8"))]
    assert not offenders, f"hand-written p-value adjustment in {offenders}; use adjust_p"


def test_no_hand_written_dummy_coding():
    """Treatment dummies with their ``[T.level]`` names come from formulaic (models/coding.py,
    models/design.py), not from string formatting elsewhere."""
    pattern = re.compile(r"f\"\{[^}]+\}\[T\.\{")
    allowed = {"evalkit/models/coding.py", "evalkit/models/design.py"}
    offenders = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                 if str(p.relative_to(ROOT)) not in allowed and pattern.search(p.read_text("utf-8"))]
    assert not offenders, f"hand-written dummy coding in {offenders}; use evalkit.models.coding"


@pytest.mark.parametrize("values, names", [
    (["b", "a", "b"], ["Intercept", "x[T.b]"]),
    ([True, False, True], ["Intercept", "x"]),                 # booleans are 0/1, as formulaic
    ([1.5, 2.0, 3.0], ["Intercept", "x"]),
])
def test_one_term_naming_rule(values, names):
    import pandas as pd

    from evalkit.models.coding import treatment_matrix

    assert treatment_matrix(pd.DataFrame({"x": values}), ["x"]).names == names
