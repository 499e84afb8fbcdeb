from __future__ import annotations

import pytest

from templates_app.diff import json_diff, text_diff
from templates_app.versions import Version, VersionError, parse_version


def test_nodes_are_compared_by_id_not_position():
    old = {"workflows": [{"id": "a", "config": {"n": 1}}, {"id": "b"}]}
    new = {"workflows": [{"id": "a", "config": {"n": 2}}, {"id": "c"}, {"id": "b"}]}
    assert json_diff(old, new) == [
        {"path": "workflows[id=a].config.n", "op": "changed", "old": 1, "new": 2},
        {"path": "workflows[id=c]", "op": "added", "new": {"id": "c"}},
    ]


def test_parameters_are_compared_by_name_and_plain_lists_by_index():
    old = {"parameters": [{"name": "x", "default": 1}], "tags": ["a", "b"], "gone": True}
    new = {"parameters": [{"name": "x", "default": 1}, {"name": "y"}], "tags": ["a"]}
    assert json_diff(old, new) == [
        {"path": "parameters[name=y]", "op": "added", "new": {"name": "y"}},
        {"path": "tags[1]", "op": "removed", "old": "b"},
        {"path": "gone", "op": "removed", "old": True},
    ]


def test_a_type_change_is_a_change():
    assert json_diff({"a": 1}, {"a": 1.0}) == [{"path": "a", "op": "changed", "old": 1, "new": 1.0}]
    assert json_diff({"a": 1}, {"a": 1}) == []


def test_reordered_nodes_are_reported():
    old = {"w": [{"id": "a"}, {"id": "b"}]}
    new = {"w": [{"id": "b"}, {"id": "a"}]}
    assert json_diff(old, new) == [{"path": "w", "op": "reordered", "old": ["a", "b"], "new": ["b", "a"]}]


def test_text_diff_is_a_unified_diff():
    text = text_diff({"a": 1}, {"a": 2}, old_label="v1", new_label="v2")
    assert text.startswith("--- v1\n+++ v2\n")
    assert '-  "a": 1\n' in text and '+  "a": 2\n' in text


def test_versions_parse_and_order():
    assert parse_version("1.10.0") > parse_version("1.9.9")
    assert str(Version(1, 0, 0).next_patch()) == "1.0.1"
    for text in ("1.0", "01.0.0", "1.0.0-beta", 1):
        with pytest.raises(VersionError):
            parse_version(text)
