"""The package's run-time imports form no cycle: the model owns its agents, agents name the
model only for typing, and scenario validation and the model both read the strategy registry."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("model", "agents", "runs")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(("tokenmarket", *parts))


def runtime_imports(path: Path) -> set[str]:
    """Modules of the package imported at module level, outside `if TYPE_CHECKING:`."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tokenmarket"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tokenmarket")}
    return found


def graph() -> dict[str, set[str]]:
    files = [p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    return {
        m: {i for i in runtime_imports(p) if i in modules and i != m} for m, p in modules.items()
    }


def test_module_level_imports_have_no_cycle():
    edges, done, path = graph(), set(), []

    def visit(module: str) -> None:
        if module in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        path.append(module)
        for target in sorted(edges[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(edges):
        visit(module)


def test_agents_do_not_import_the_model_class_at_run_time():
    edges = graph()
    agents = [m for m in edges if m.startswith("tokenmarket.agents")]
    assert agents
    assert all("tokenmarket.model.market" not in edges[m] for m in agents)
    assert all("tokenmarket.model.scenario" not in edges[m] for m in agents)
