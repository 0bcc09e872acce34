"""The house rules of docs/architecture.md, read from the code: no import circle, no import from a
lower layer to a higher one, few imports of hrseg modules inside functions (each with a comment
saying why), no module above 400 lines."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hrseg"
# docs/architecture.md, from the ground up
LAYERS = ["errors meta geometry", "utils codecs config configs_index checkpoint",
          "data models losses evaluation visualization engine", "weights", "inference backends export",
          "tasks recipes", "commands serve experiments benchmark cli"]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer.split()}
TOP = len(LAYERS) - 1  # the package itself (hrseg/__init__.py imports every layer): only applications use it
MAX_LOCAL_IMPORTS = 20
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool, str]]:
    """(imported module, line, inside a function, the source line) of every hrseg import."""
    source = path.read_text()
    lines = source.splitlines()
    found: list[tuple[str, int, bool, str]] = []

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            inner = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    parts = parts[: len(parts) - (child.level - 1)]
                    base = ".".join(parts + ([child.module] if child.module else []))
                names = [f"{base}.{a.name}" for a in child.names]
            for name in names:
                target = _resolve(name, known) if name.split(".")[0] == "hrseg" else None
                if target is not None and target != module:
                    found.append((target, child.lineno, depth > 0, lines[child.lineno - 1]))
            visit(child, inner)

    visit(ast.parse(source), 0)
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return TOP
    if parts[1] not in RANK:
        pytest.fail(f"{module}: not in the layer map of docs/architecture.md (add it there and here)")
    return RANK[parts[1]]


@pytest.fixture(scope="module")
def graph() -> dict[str, list[tuple[str, int, bool, str]]]:
    known = _modules()
    return {m: _imports(m, p, known) for m, p in known.items()}


def test_no_module_imports_a_higher_layer(graph):
    upward = [f"{m}:{line} -> {t}" for m, ties in graph.items() for t, line, _, _ in ties if _layer(t) > _layer(m)]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_no_import_circle(graph):
    edges = {m: {t for t, *_ in ties} for m, ties in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for v in edges:
        if v not in index:
            strongconnect(v)
    assert not circles, f"import circles: {circles}"


def test_few_imports_inside_functions_and_each_says_why(graph):
    local = [(m, line, text) for m, ties in graph.items() for _, line, inside, text in ties if inside]
    assert len(local) <= MAX_LOCAL_IMPORTS, f"{len(local)} imports of hrseg modules inside functions"
    silent = [f"{m}:{line}" for m, line, text in local if "#" not in text]
    assert not silent, f"imports inside functions without a comment saying why: {silent}"


def test_no_module_is_long():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules above {MAX_LINES} lines: {long}"
