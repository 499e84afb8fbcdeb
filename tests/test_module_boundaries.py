"""Who may import what, read from the source (issue 15, points 4 and 5).

- Domain errors live in the domain: only API modules (a package called
  ``api``, or a module ``api.py`` / ``api_*.py`` of an app) import from
  ``orchestration.api``; services, pages, commands and tasks take their
  errors from ``orchestration.errors`` (or their own app).
- Modules (the tests' too) never import another module's private names
  (``from x import _y``), and the product's modules never reach into an
  imported module's private names (``x._y``). The allow-lists
  ``ENGINE_PRIVATE_IMPORTS`` / ``ENGINE_PRIVATE_ATTRIBUTES`` are empty and stay so.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "orchestration",
    "scheduling",
    "resources",
    "webflows",
    "monitoring",
    "templates_app",
    "webauto",
)

# (importing module, imported module, private name) and (module, object,
# private attribute) that are still allowed. Empty: every module uses only
# public names of the others. Add none.
ENGINE_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()
ENGINE_PRIVATE_ATTRIBUTES: set[tuple[str, str, str]] = set()


def _modules(packages: tuple[str, ...] = PACKAGES) -> Iterator[tuple[str, Path, ast.Module]]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(module: str, path: Path, tree: ast.Module) -> Iterator[tuple[int, str, str | None]]:
    """``(line, imported module, imported name or None)`` for every import,
    relative ones resolved against ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, base, alias.name


def _is_api_module(module: str) -> bool:
    parts = module.split(".")
    return any(p == "api" or p.startswith("api_") for p in parts)


def test_the_scan_sees_the_code() -> None:
    """The scan reads every app (guards the tests below against scanning nothing)."""
    names = {name for name, _, _ in _modules()}
    assert {"orchestration.services", "monitoring.selectors", "templates_app.services",
            "orchestration.api.errors", "scheduling.api"} <= names


def test_only_api_modules_import_the_api() -> None:
    offenders = []
    for module, path, tree in _modules():
        if _is_api_module(module):
            continue
        for line, imported, name in _imports(module, path, tree):
            target = f"{imported}.{name}" if name else imported
            if imported == "orchestration.api" or imported.startswith("orchestration.api.") or (
                imported == "orchestration" and name == "api"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert offenders == [], "domain modules must import errors from orchestration.errors:\n" + "\n".join(offenders)


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = []
    for module, path, tree in _modules((*PACKAGES, "tests")):
        for line, imported, name in _imports(module, path, tree):
            if name is None or not name.startswith("_") or name.startswith("__") or imported == module:
                continue
            if (module, imported, name) in ENGINE_PRIVATE_IMPORTS:
                continue
            offenders.append(f"{path.relative_to(ROOT)}:{line} imports {imported}.{name}")
    assert offenders == [], "private names imported across modules:\n" + "\n".join(offenders)


FEATURE_APPS = ("scheduling", "webflows", "resources", "templates_app", "monitoring")


def test_the_core_pages_import_no_feature_app() -> None:
    """The core pages get "next run", a task's schedules and the kinds a node
    can use through hooks (``orchestration.ui.hooks``, ``registry.provided_kinds``)
    that the feature apps fill in their ``AppConfig.ready()``."""
    offenders = []
    for module, path, tree in _modules():
        if not module.startswith("orchestration.ui"):
            continue
        for line, imported, _ in _imports(module, path, tree):
            if any(imported == app or imported.startswith(app + ".") for app in FEATURE_APPS):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert offenders == [], "\n".join(offenders)


def test_no_module_reaches_into_another_modules_private_names() -> None:
    """``import x`` then ``x._y`` is the same reach as ``from x import _y``."""
    offenders = []
    for module, path, tree in _modules():
        imported_names = {
            (alias.asname or alias.name).split(".")[0]
            for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in imported_names
                and node.attr.startswith("_") and not node.attr.startswith("__")
                # Public despite the underscore: Django model options and managers, os._exit.
                and node.attr not in ("_meta", "_default_manager", "_base_manager", "_exit")
                and (module, node.value.id, node.attr) not in ENGINE_PRIVATE_ATTRIBUTES
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert offenders == [], "\n".join(offenders)
