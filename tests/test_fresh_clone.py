"""The suite runs on any fresh clone: no test reads a file from outside the
repository (issue 14, point 12: the seed used to be read from a folder
beside the clone)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _file_anchored_paths(source: Path) -> list[tuple[int, Path]]:
    """Every ``Path(__file__)...parents[k] / "a" / "b"`` expression in *source*,
    resolved, with its line number (other path expressions are not followed)."""
    found: list[tuple[int, Path]] = []
    tree = ast.parse(source.read_text(encoding="utf-8"))

    def resolve(node: ast.expr) -> Path | None:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            base = resolve(node.left)
            if base is not None and isinstance(node.right, ast.Constant) and isinstance(node.right.value, str):
                return base / node.right.value
            return None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
            base = resolve(node.value.value)
            index = node.slice
            if base is not None and isinstance(index, ast.Constant) and isinstance(index.value, int):
                return base.parents[index.value] if index.value < len(base.parents) else Path("/")
            return None
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            base = resolve(node.value)
            return base.parent if base is not None else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "resolve":
            return resolve(node.func.value)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Path"
                and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "__file__"):
            return source.resolve()
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp | ast.Subscript | ast.Attribute):
            path = resolve(node)
            if path is not None:
                found.append((node.lineno, path))
    return found


def test_no_test_reads_a_file_outside_the_repository():
    outside = [
        f"{source.relative_to(ROOT)}:{line} -> {path}"
        for source in sorted((ROOT / "tests").rglob("*.py"))
        for line, path in _file_anchored_paths(source)
        if not path.is_relative_to(ROOT)
    ]
    assert outside == []

