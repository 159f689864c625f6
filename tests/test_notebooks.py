"""The exploration notebooks are committed clean and use only the public API.

Executing them is nbmake's job (`pytest --nbmake notebooks/`); these checks are static and fast.
"""

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def _cells(path: Path, kind: str) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_the_exploration_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {
        "01_quickstart.ipynb",
        "02_low_price_vs_differentiation.ipynb",
        "03_going_global.ipynb",
        "04_sweep_analysis.ipynb",
        "05_calvano.ipynb",
        "06_learning_firms.ipynb",
        "07_three_rationales.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    for cell in _cells(path, "code"):
        assert cell["outputs"] == [], f"{path.name}: a code cell has outputs"
        assert cell["execution_count"] is None, f"{path.name}: a code cell has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_uses_only_the_public_api(path):
    for cell in _cells(path, "code"):
        # IPython magics are not Python: drop them before parsing
        code = "\n".join(
            line for line in _source(cell).splitlines() if not line.lstrip().startswith("%")
        )
        tree = ast.parse(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tokenmarket"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name}: imports private names {private}"
            if isinstance(node, ast.Attribute) and re.fullmatch(r"_[a-z]\w*", node.attr):
                raise AssertionError(f"{path.name}: reaches a private attribute .{node.attr}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tells_a_story(path):
    markdown = _cells(path, "markdown")
    assert markdown and _source(markdown[0]).startswith("# "), f"{path.name}: no title cell"
    assert len(markdown) >= len(_cells(path, "code")) // 2, f"{path.name}: too little prose"
