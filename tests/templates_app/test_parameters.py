from __future__ import annotations

import pytest

from templates_app.parameters import (
    MISSING,
    check_declarations,
    coerce_form_value,
    validate_values,
)

PARAMS = [
    {"name": "targetUrl", "type": "string", "required": True, "pattern": "^https?://"},
    {"name": "maxPosts", "type": "number", "default": 50, "minimum": 1, "maximum": 1000},
    {"name": "mediaQuality", "type": "string", "default": "original", "enum": ["thumbnail", "medium", "original"]},
    {"name": "includeComments", "type": "boolean"},
    {"name": "retries", "type": "integer", "minimum": 0},
    {"name": "urls", "type": "array"},
    {"name": "headers", "type": "object"},
]


def test_it_applies_defaults_and_keeps_types():
    values, errors = validate_values(PARAMS, {"targetUrl": "https://weibo.com/1"})
    assert errors == []
    assert values == {"targetUrl": "https://weibo.com/1", "maxPosts": 50, "mediaQuality": "original"}


def test_it_keeps_undeclared_names():
    values, errors = validate_values(PARAMS, {"targetUrl": "https://x", "changeThreshold": 0.1})
    assert errors == []
    assert values["changeThreshold"] == 0.1


def test_a_null_value_counts_as_not_given():
    values, errors = validate_values(PARAMS, {"targetUrl": "https://x", "maxPosts": None})
    assert errors == [] and values["maxPosts"] == 50


def test_missing_required_parameter_is_reported_by_name():
    _, errors = validate_values(PARAMS, {})
    assert errors == [{"path": "parameters.targetUrl", "message": "is required"}]


def test_wrong_type_is_reported_by_name():
    _, errors = validate_values(PARAMS, {"targetUrl": "https://x", "maxPosts": "many", "includeComments": "yes"})
    assert [e["path"] for e in errors] == ["parameters.maxPosts", "parameters.includeComments"]
    assert errors[0]["message"] == 'must be a number (got string "many")'
    assert errors[1]["message"].startswith("must be true or false")


def test_a_boolean_is_not_a_number():
    _, errors = validate_values(PARAMS, {"targetUrl": "https://x", "maxPosts": True})
    assert errors[0]["path"] == "parameters.maxPosts"


def test_value_outside_enum_is_reported():
    _, errors = validate_values(PARAMS, {"targetUrl": "https://x", "mediaQuality": "huge"})
    assert errors == [
        {"path": "parameters.mediaQuality", "message": 'must be one of: thumbnail, medium, original (got "huge")'}
    ]


def test_out_of_range_values_are_reported():
    _, errors = validate_values(PARAMS, {"targetUrl": "https://x", "maxPosts": 0, "retries": -1})
    assert errors == [
        {"path": "parameters.maxPosts", "message": "must be at least 1 (got 0)"},
        {"path": "parameters.retries", "message": "must be at least 0 (got -1)"},
    ]
    _, errors = validate_values(PARAMS, {"targetUrl": "https://x", "maxPosts": 5000})
    assert errors == [{"path": "parameters.maxPosts", "message": "must be at most 1000 (got 5000)"}]


def test_pattern_and_integer_errors():
    _, errors = validate_values(PARAMS, {"targetUrl": "ftp://x", "retries": 1.5})
    assert errors[0] == {"path": "parameters.targetUrl", "message": 'must match the pattern ^https?:// (got "ftp://x")'}
    assert errors[1]["path"] == "parameters.retries"
    assert errors[1]["message"].startswith("must be a whole number")


def test_every_error_is_listed_at_once():
    _, errors = validate_values(
        PARAMS, {"maxPosts": -3, "mediaQuality": "x", "urls": "a", "headers": []}
    )
    assert [e["path"] for e in errors] == [
        "parameters.targetUrl",
        "parameters.maxPosts",
        "parameters.mediaQuality",
        "parameters.urls",
        "parameters.headers",
    ]


def test_parameters_must_be_an_object():
    _, errors = validate_values(PARAMS, ["x"])
    assert errors == [{"path": "parameters", "message": "must be an object of parameter values"}]


def test_declarations_are_checked():
    errors = check_declarations(
        [
            {"name": "a b", "type": "string"},
            {"name": "n", "type": "float"},
            {"name": "q", "type": "string", "enum": ["x", 3]},
            {"name": "m", "type": "number", "default": "ten"},
            {"name": "r", "type": "number", "minimum": 5, "default": 1},
            {"name": "r", "type": "string", "requird": True},
            {"name": "p", "type": "string", "pattern": "("},
        ]
    )
    paths = [e["path"] for e in errors]
    assert paths == [
        "parameters[0].name",
        "parameters[1].type",
        "parameters[2].enum[1]",
        "parameters[3].default",
        "parameters[4].default",
        "parameters[5].name",
        "parameters[5].requird",
        "parameters[6].pattern",
    ]


def test_seed_declarations_are_valid(seed_template):
    assert check_declarations(seed_template["parameters"]) == []


@pytest.mark.parametrize(
    ("param", "raw", "expected"),
    [
        ({"type": "number"}, "50", 50),
        ({"type": "number"}, "0.5", 0.5),
        ({"type": "integer"}, "7", 7),
        ({"type": "integer"}, "2.0", 2),  # a whole number, as the API takes 2.0
        ({"type": "boolean"}, "on", True),
        ({"type": "boolean"}, None, False),
        ({"type": "string"}, "", MISSING),
        ({"type": "number"}, " ", MISSING),
        ({"type": "array"}, '["a", 1]', ["a", 1]),
        ({"type": "object"}, '{"k": true}', {"k": True}),
        ({"type": "integer", "enum": [1, 2]}, "2", 2),
    ],
)
def test_form_text_becomes_typed_values(param, raw, expected):
    value, problem = coerce_form_value({"name": "x", **param}, raw)
    assert problem is None
    assert value == expected if expected is not MISSING else value is MISSING
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("number", "abc", "must be a number (got 'abc')"),
        ("integer", "1.5", "must be a whole number (got '1.5')"),
        ("integer", "two", "must be a whole number (got 'two')"),
        ("array", "[1,", "must be a JSON list like [1, 2]"),
    ],
)
def test_form_text_of_the_wrong_type_is_an_error(kind, raw, message):
    value, problem = coerce_form_value({"name": "x", "type": kind}, raw)
    assert value is MISSING
    assert problem.startswith(message)
