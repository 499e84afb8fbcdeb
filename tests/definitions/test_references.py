from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.references import (
    REDACTED,
    UnresolvedReference,
    find_references,
    redact,
    reference_root,
    resolve,
    secret_lookup_from_db,
)

PARAMETERS = {
    "targetUrl": "https://weibo.com/1671109627",
    "maxPosts": 100,
    "changeThreshold": 0.1,
    "includeComments": True,
    "nothing": None,
    "filters": {"kinds": ["image", "video"]},
}
OUTPUTS = {
    "monitoring": {"hasChanges": True, "changeRatio": 0.25, "posts": [{"id": "p1"}, {"id": "p2"}]},
    "batch-download": {"files": [{"path": "/tmp/a.jpg", "size": 10}]},
}
SECRETS = {"webhookToken": "tok-123", "apiKey": "k-9"}


def run(value, used=None):
    return resolve(
        value, parameters=PARAMETERS, outputs=OUTPUTS, secret_lookup=SECRETS.get, used_secrets=used
    )


def test_it_finds_every_reference_in_nested_values_in_order():
    value = {"a": "${x}", "b": ["text ${y.z} and ${ w }", {"c": "${q[0]}"}], "d": 3, "e": None}
    assert find_references(value) == ["x", "y.z", "w", "q[0]"]


def test_it_finds_nothing_in_plain_values():
    assert find_references({"a": "plain $ {x} text", "b": [1, 2.5, True, None]}) == []


@pytest.mark.parametrize(
    ("ref", "root"),
    [
        ("monitoring.hasChanges", "monitoring"),
        ("monitoring", "monitoring"),
        ("posts[0].id", "posts"),
        (" batch-download.files ", "batch-download"),
    ],
)
def test_reference_root_is_the_first_name(ref, root):
    assert reference_root(ref) == root


def test_a_whole_string_reference_keeps_the_parameter_type():
    assert run("${maxPosts}") == 100
    assert run("${changeThreshold}") == 0.1
    assert run("${includeComments}") is True
    assert run("${nothing}") is None
    assert run("${filters}") == {"kinds": ["image", "video"]}


def test_a_whole_string_reference_returns_a_copy():
    result = run("${filters}")
    result["kinds"].append("audio")
    assert PARAMETERS["filters"] == {"kinds": ["image", "video"]}


def test_references_inside_text_are_interpolated_as_json_for_non_strings():
    assert run("Bearer ${webhookToken}") == "Bearer tok-123"
    assert run("max=${maxPosts}, r=${changeThreshold}") == "max=100, r=0.1"
    assert run("comments=${includeComments}; n=${nothing}") == "comments=true; n=null"
    assert run("f=${filters}") == 'f={"kinds":["image","video"]}'


def test_upstream_output_paths_are_walked():
    assert run("${monitoring.hasChanges}") is True
    assert run("${monitoring.posts[1].id}") == "p2"
    assert run("${monitoring.posts.0.id}") == "p1"
    assert run("${batch-download.files[0].size}") == 10


def test_node_output_means_the_whole_output():
    assert run("${monitoring.output}") == OUTPUTS["monitoring"]
    assert run("${monitoring.output.changeRatio}") == 0.25
    assert run("${monitoring}") == OUTPUTS["monitoring"]


def test_parameters_win_over_nodes_and_nodes_over_secrets():
    assert (
        resolve("${x}", parameters={"x": 1}, outputs={"x": {"y": 2}}, secret_lookup=lambda n: "s")
        == 1
    )
    assert resolve("${x}", parameters={}, outputs={"x": {"y": 2}}, secret_lookup=lambda n: "s") == {
        "y": 2
    }


def test_secrets_are_resolved_and_recorded_as_used():
    used: set[str] = set()
    assert run({"h": "Bearer ${webhookToken}", "k": "${apiKey}"}, used) == {
        "h": "Bearer tok-123",
        "k": "k-9",
    }
    assert used == {"tok-123", "k-9"}


def test_nested_structures_are_resolved_deeply_and_non_strings_kept():
    value = {"list": ["${maxPosts}", {"u": "${targetUrl}/feed"}], "n": 5, "b": False, "z": None}
    assert run(value) == {
        "list": [100, {"u": "https://weibo.com/1671109627/feed"}],
        "n": 5,
        "b": False,
        "z": None,
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("${unknown}", "not a parameter, an upstream node or a stored secret"),
        ("${monitoring.missing}", "the output of monitoring has no 'missing'"),
        ("${monitoring.posts[5]}", "has no 5"),
        ("${unknown.path}", "not a parameter"),
        ("${maxPosts.deeper}", "parameter maxPosts has no 'deeper'"),
        ("${}", "empty name"),
    ],
)
def test_unknown_references_raise_with_the_name(text, fragment):
    with pytest.raises(UnresolvedReference) as caught:
        run(text)
    assert fragment in str(caught.value)
    assert caught.value.name == text[2:-1]


def test_a_secret_is_never_read_with_a_path():
    with pytest.raises(UnresolvedReference):
        run("${webhookToken.length}")


def test_redact_replaces_secret_values_everywhere_in_strings():
    value = {
        "header": "Bearer tok-123",
        "list": ["x tok-123 y tok-123", 5, None],
        "tok-123": "key too",
        "nested": {"k": "k-9"},
    }
    assert redact(value, ["tok-123", "k-9", ""]) == {
        "header": f"Bearer {REDACTED}",
        "list": [f"x {REDACTED} y {REDACTED}", 5, None],
        REDACTED: "key too",
        "nested": {"k": REDACTED},
    }


def test_redact_prefers_the_longest_secret():
    assert redact("abcdef", ["abc", "abcdef"]) == REDACTED


def test_redact_without_secrets_copies():
    value = {"a": [1]}
    result = redact(value, [])
    assert result == value and result is not value and result["a"] is not value["a"]


@pytest.mark.django_db
def test_secret_lookup_reads_the_secret_store():
    from orchestration.models import Secret

    Secret.objects.create(name="dbToken", value="from-db")
    lookup = secret_lookup_from_db()
    assert lookup("dbToken") == "from-db"
    assert lookup("absent") is None


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)


@settings(deadline=None)
@given(json_values)
def test_a_whole_string_reference_round_trips_any_json_value(value):
    assert (
        resolve("${p}", parameters={"p": value}, outputs={}, secret_lookup=lambda n: None) == value
    )


@settings(deadline=None)
@given(json_values)
def test_interpolation_writes_json_for_non_strings(value):
    result = resolve("<${p}>", parameters={"p": value}, outputs={}, secret_lookup=lambda n: None)
    inner = result[1:-1]
    if isinstance(value, str):
        assert inner == value
    else:
        assert json.loads(inner) == value


@settings(deadline=None)
@given(json_values)
def test_values_without_references_come_back_equal(value):
    if find_references(value):
        return
    assert resolve(value, parameters={}, outputs={}, secret_lookup=lambda n: None) == value


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield key
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


@settings(deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_characters="*"), min_size=1, max_size=12), json_values
)
def test_redacted_output_never_contains_the_secret(secret, value):
    wrapped = {"a": [f"x{secret}y", value], "b": secret, secret: value}
    assert not any(secret in text for text in _strings(redact(wrapped, [secret])))
