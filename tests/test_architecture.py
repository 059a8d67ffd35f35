"""The code's shape, as docs/architecture.md draws it: each package is a stage and a
module imports only from its own stage or one below it; no import circle; the engine never
imports a plugin; no long function in the engine; a view of render/ imports no other view
and opens no file; a front door gives the names it lists."""

import ast
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from policycheck.plugin.registry import declaring_modules
from support.harness import REPO

PACKAGE = REPO / "policycheck"
#: Plugin modules (those declaring resource types, facts, plan sources or checks): the
#: engine reaches them only through the registry, which imports them by name at run time.
#: A module of a plugin package that declares nothing (the plan file reader) is not one.
PLUGINS = frozenset(declaring_modules())
#: The stages, lowest first: a module may import only from its own stage or a lower one.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "policycheck.version",
            "policycheck.errors",
            "policycheck.paths",
            "policycheck.validation",
            "policycheck.deadline",
            "policycheck.git",
            "policycheck.frontdoor",
        ),
    ),
    ("plugin", ("policycheck.plugin",)),
    ("report", ("policycheck.report",)),
    ("policy", ("policycheck.policy",)),
    ("iam", ("policycheck.iam",)),
    ("sources", ("policycheck.sources", "policycheck.checks")),
    ("engine", ("policycheck.engine",)),
    ("render and publish", ("policycheck.render", "policycheck.publish", "policycheck.starter")),
    (
        "commands",
        (
            "policycheck.cli",
            "policycheck.demo",
            "policycheck.generate",
            "policycheck.__main__",
            "policycheck",
        ),
    ),
)
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    found = {_module_name(p): ast.parse(p.read_text()) for p in PACKAGE.rglob("*.py")}
    for path in (REPO / "checks").glob("*.py"):
        found[_module_name(path).replace("checks", "policycheck.checks", 1)] = ast.parse(
            path.read_text()
        )
    return found


MODULES = _modules()


def _imports(name: str, tree: ast.Module) -> Iterator[str]:
    """The project modules ``name`` imports, wherever the import statement is."""
    package = name if name in PACKAGES else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1]])
                base = f"{base}.{node.module}" if node.module else base
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


PACKAGES = {_module_name(p) for p in PACKAGE.rglob("__init__.py")} | {"policycheck.checks"}


def _graph() -> dict[str, set[str]]:
    return {
        name: {target for target in _imports(name, tree) if target in MODULES and target != name}
        for name, tree in MODULES.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, if there is any (depth-first search)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "policycheck.plugin.check" in graph["policycheck.checks.s3"]
    assert "policycheck.plugin.facts" in graph["policycheck.sources.aws.s3"]


def test_no_import_circle() -> None:
    assert _cycle(_graph()) is None


def test_a_circle_is_found() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_engine_never_imports_a_plugin() -> None:
    engine = [
        name for name in MODULES if name not in PLUGINS and not name.startswith("policycheck.demo")
    ]
    graph = _graph()
    offenders = {name: sorted(t for t in graph[name] if t in PLUGINS) for name in engine}
    assert {name: found for name, found in offenders.items() if found} == {}


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO))
)
def test_no_function_in_the_engine_is_longer_than_60_lines(path: Path) -> None:
    long = {
        f"{path.relative_to(REPO)}:{node.lineno} {node.name}": lines
        for node in _functions(ast.parse(path.read_text()))
        if (lines := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    }
    assert long == {}


def _layer(module: str) -> int | None:
    """The stage of ``module``: the one naming it or the package holding it (the
    package ``policycheck`` itself, the front door, is only the module of that name)."""
    for index, (_, prefixes) in reversed(list(enumerate(LAYERS))):
        for prefix in prefixes:
            if module == prefix or (prefix != "policycheck" and module.startswith(f"{prefix}.")):
                return index
    return None


def _upward(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each module's imports from a higher stage than its own."""
    found = {}
    for name, targets in graph.items():
        own = _layer(name)
        assert own is not None
        upward = sorted(t for t in targets if (_layer(t) or 0) > own)
        if upward:
            found[name] = [f"{t} ({LAYERS[_layer(t) or 0][0]})" for t in upward]
    return found


def test_every_module_has_a_stage() -> None:
    assert sorted(name for name in MODULES if _layer(name) is None) == []


def test_each_stage_imports_only_from_itself_or_below() -> None:
    assert _upward(_graph()) == {}


def test_an_upward_import_is_found() -> None:
    graph = {"policycheck.report.model": {"policycheck.render.markdown", "policycheck.errors"}}
    assert _upward(graph) == {
        "policycheck.report.model": ["policycheck.render.markdown (render and publish)"]
    }


#: What the views of render/ share: a view imports these, never another view.
VIEW_HELPERS = {
    f"policycheck.render.{name}"
    for name in ("view", "characters", "markdown", "streamed", "document")
}
#: The calls and modules that open, make or name files.
FILE_CALLS = {"open", "write_text", "write_bytes", "read_text", "mkdtemp", "mkstemp"}
FILE_MODULES = {"tempfile", "pathlib", "os"}


def _views() -> list[str]:
    return [
        name
        for name in MODULES
        if name.startswith("policycheck.render.") and name not in VIEW_HELPERS
    ]


def test_a_view_imports_no_other_view() -> None:
    graph = _graph()
    others = {
        name: sorted(
            t for t in graph[name] if t.startswith("policycheck.render.") and t not in VIEW_HELPERS
        )
        for name in _views()
    }
    assert {name: found for name, found in others.items() if found} == {}


def _file_handling(tree: ast.Module) -> list[str]:
    """The calls and imports of ``tree`` that open or make files."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = node.func
            name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", "")
            if name in FILE_CALLS:
                found.append(f"{node.lineno}: {name}()")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            found += [f"{node.lineno}: import {m}" for m in modules if m in FILE_MODULES]
    return found


def test_a_renderer_opens_no_file() -> None:
    """A view writes into the file its caller opens (and holds text aside in files the
    caller's spool gives); where files go is policycheck.publish's."""
    render = [name for name in MODULES if name.split(".")[:2] == ["policycheck", "render"]]
    opened = {name: _file_handling(MODULES[name]) for name in render}
    assert {name: found for name, found in opened.items() if found} == {}


def test_file_handling_is_found() -> None:
    tree = ast.parse(
        "import tempfile\nfrom pathlib import Path\nopen('x')\nPath('y').write_text('')"
    )
    assert _file_handling(tree) == [
        "1: import tempfile",
        "2: import pathlib",
        "3: open()",
        "4: write_text()",
    ]


@pytest.mark.parametrize("package", ["policycheck", "policycheck.publish"])
def test_a_front_door_gives_each_name_it_lists(package: str) -> None:
    door = importlib.import_module(package)
    assert [name for name in door.__all__ if getattr(door, name, None) is None] == []
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nothing'"):
        door.nothing  # noqa: B018


def test_the_archive_is_reached_without_the_renderers() -> None:
    """The publish front door imports its names when used: `policycheck init` and
    `archive` reach publish/archive.py without loading every view."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, policycheck.publish.archive; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "policycheck.publish.archive" in loaded
    assert [name for name in loaded if name.startswith("policycheck.render")] == []
