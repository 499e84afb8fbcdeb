"""Differences between two JSON documents (two template versions, or a task
before and after an upgrade): a list of changes with JSON paths, and a
unified text diff for reading. Pure Python."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any, TypedDict


class Change(TypedDict, total=False):
    path: str
    op: str  # added | removed | changed | reordered
    old: Any
    new: Any


def _list_key(items: list[Any]) -> str | None:
    """``id`` or ``name`` when every item is an object with a distinct one, so
    that a node inserted in the middle is one change, not a shifted list."""
    for key in ("id", "name"):
        values = [item.get(key) if isinstance(item, Mapping) else None for item in items]
        if values and all(isinstance(v, str) for v in values) and len(set(values)) == len(values):
            return key
    return None


def json_diff(old: Any, new: Any, path: str = "") -> list[Change]:
    """Every difference between ``old`` and ``new``; paths like
    ``workflows[id=download].config.maxPosts`` or ``tags[1]``."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[Change] = []
        for key in [*old.keys(), *(k for k in new.keys() if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                changes.append({"path": sub, "op": "removed", "old": old[key]})
            elif key not in old:
                changes.append({"path": sub, "op": "added", "new": new[key]})
            else:
                changes.extend(json_diff(old[key], new[key], sub))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        key = _list_key(old) if old else _list_key(new)
        if key is not None and (not new or _list_key(new) == key) and (not old or _list_key(old) == key):
            return _keyed_list_diff(old, new, key, path)
        changes = []
        for index in range(max(len(old), len(new))):
            sub = f"{path}[{index}]"
            if index >= len(new):
                changes.append({"path": sub, "op": "removed", "old": old[index]})
            elif index >= len(old):
                changes.append({"path": sub, "op": "added", "new": new[index]})
            else:
                changes.extend(json_diff(old[index], new[index], sub))
        return changes
    if old == new and type(old) is type(new):
        return []
    return [{"path": path, "op": "changed", "old": old, "new": new}]


def _keyed_list_diff(old: list[Any], new: list[Any], key: str, path: str) -> list[Change]:
    old_by = {item[key]: item for item in old}
    new_by = {item[key]: item for item in new}
    changes: list[Change] = []
    for name in [*old_by, *(n for n in new_by if n not in old_by)]:
        sub = f"{path}[{key}={name}]"
        if name not in new_by:
            changes.append({"path": sub, "op": "removed", "old": old_by[name]})
        elif name not in old_by:
            changes.append({"path": sub, "op": "added", "new": new_by[name]})
        else:
            changes.extend(json_diff(old_by[name], new_by[name], sub))
    if [i for i in old_by if i in new_by] != [i for i in new_by if i in old_by]:
        changes.append(
            {"path": path, "op": "reordered", "old": list(old_by), "new": list(new_by)}
        )
    return changes


def text_diff(old: Any, new: Any, *, old_label: str, new_label: str) -> str:
    """A unified diff of the two documents written as indented JSON."""
    def lines(doc: Any) -> list[str]:
        return json.dumps(doc, ensure_ascii=False, indent=2).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(old), lines(new), fromfile=old_label, tofile=new_label))
