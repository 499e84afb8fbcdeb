from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.expressions import (
    ExpressionError,
    check_syntax,
    evaluate,
    evaluate_condition,
    expression_names,
)

NAMES = {
    "monitoring": {
        "hasChanges": True,
        "changeRatio": 0.25,
        "items": [1, 2, 3],
        "meta": {"site": "Weibo"},
    },
    "maxPosts": 100,
    "mode": "fast",
    "batch-download": {"downloaded": 4, "failed": 0},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${monitoring.hasChanges == true}", True),
        ("monitoring.hasChanges == false", False),
        ("monitoring.changeRatio >= 0.2 and maxPosts > 50", True),
        ("monitoring.changeRatio > 0.5 or mode == 'fast'", True),
        ("not monitoring.hasChanges", False),
        ("monitoring.hasChanges && !(maxPosts < 10)", True),
        ("mode === 'fast' || false", True),
        ("maxPosts !== 100", False),
        ("maxPosts * 2 + 1", 201),
        ("maxPosts / 8", 12.5),
        ("maxPosts % 7", 2),
        ("monitoring.items[0] + monitoring.items[-1]", 4),
        ("monitoring['meta']['site']", "Weibo"),
        ("len(monitoring.items) == 3", True),
        ("max(monitoring.items) - min(monitoring.items)", 2),
        ("abs(-3) + round(2.6)", 6),
        ("lower(monitoring.meta.site) == 'weibo'", True),
        ("upper(mode)", "FAST"),
        ("2 in monitoring.items", True),
        ("'fast' not in ['slow', 'medium']", True),
        ("null == null", True),
        ("'!' + mode", "!fast"),
        ("batch-download.downloaded > 3", True),
        ("batch-download.failed == 0 && batch-download.downloaded == 4", True),
        ("'yes' if monitoring.hasChanges else 'no'", "yes"),
    ],
)
def test_it_evaluates_supported_expressions(expression, expected):
    assert evaluate(expression, names=NAMES) == expected


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("__import__('os')", "function '__import__' is not available"),
        ("open('/etc/passwd')", "function 'open' is not available"),
        ("monitoring.__class__", "field names starting with '_' are not allowed"),
        ("mode.upper()", "function 'mode.upper' is not available"),
        ("[x for x in monitoring.items]", "ListComp is not allowed"),
        ("(lambda: 1)()", "not available"),
        ("monitoring.missing", "monitoring has no field 'missing'"),
        ("maxPosts.value", "cannot read .value of maxPosts: it is a number"),
        ("unknownName > 1", "unknown name 'unknownName'"),
        ("monitoring.items[10]", "has no item 10"),
        ("maxPosts / 0", "cannot evaluate"),
        ("2 ** 10000000", "more than 1000 digits"),
        ("maxPosts >", "invalid expression"),
        ("", "the expression is empty"),
        ("${}", "the expression is empty"),
    ],
)
def test_it_rejects_unsafe_or_broken_expressions_clearly(expression, fragment):
    with pytest.raises(ExpressionError) as caught:
        evaluate(expression, names=NAMES)
    assert fragment in str(caught.value)


def test_check_syntax_returns_none_or_the_reason():
    assert check_syntax("a.b == 1 and c") is None
    assert "invalid expression" in check_syntax("a ==")
    assert "not available" in check_syntax("exec('x')")
    assert check_syntax(3) == "the expression must be a string"


def test_expression_names_are_the_roots_read():
    assert expression_names("${monitoring.hasChanges == true and maxPosts > len(items)}") == {
        "monitoring",
        "maxPosts",
        "items",
    }
    assert expression_names("true or null or False") == set()
    assert expression_names("batch-download.ok", known={"batch-download"}) == {"batch-download"}
    assert expression_names("a-b", known=set()) == {"a", "b"}


def test_strings_are_not_rewritten():
    assert evaluate("'a && b || !c' == mode", names={"mode": "a && b || !c"}) is True


def test_no_condition_is_true():
    assert evaluate_condition(None, parameters={}, outputs={}, upstream=[], input_from=None) == (
        True,
        "",
    )


def test_an_expression_condition_sees_parameters_and_upstream_outputs():
    condition = {
        "type": "expression",
        "expression": "${monitoring.hasChanges == true and limit > 1}",
    }
    outputs = {"monitoring": {"hasChanges": True}}
    assert evaluate_condition(
        condition,
        parameters={"limit": 5},
        outputs=outputs,
        upstream=["monitoring"],
        input_from=None,
    ) == (True, "")
    outputs = {"monitoring": {"hasChanges": False}}
    assert evaluate_condition(
        condition,
        parameters={"limit": 5},
        outputs=outputs,
        upstream=["monitoring"],
        input_from=None,
    ) == (False, 'condition "monitoring.hasChanges == true and limit > 1" is false')


def test_an_expression_condition_reads_node_output_as_the_whole_output():
    condition = {"type": "expression", "expression": "monitoring.output.changeRatio > 0.1"}
    outputs = {"monitoring": {"changeRatio": 0.25}}
    assert evaluate_condition(
        condition, parameters={}, outputs=outputs, upstream=["monitoring"], input_from=None
    ) == (True, "")
    condition["expression"] = "monitoring['output']['changeRatio'] > 0.5"
    assert (
        evaluate_condition(
            condition, parameters={}, outputs=outputs, upstream=["monitoring"], input_from=None
        )[0]
        is False
    )


def test_an_expression_condition_does_not_see_nodes_that_are_not_upstream():
    condition = {"type": "expression", "expression": "other.ok"}
    with pytest.raises(ExpressionError, match="unknown name 'other'"):
        evaluate_condition(
            condition, parameters={}, outputs={"other": {"ok": True}}, upstream=[], input_from=None
        )


def test_content_change_compares_the_ratio_with_the_threshold():
    condition = {"type": "content-change", "threshold": 0.05}
    assert evaluate_condition(
        condition,
        parameters={},
        outputs={"monitoring": {"changeRatio": 0.05}},
        upstream=["monitoring"],
        input_from="monitoring.output",
    ) == (True, "")
    assert evaluate_condition(
        condition,
        parameters={},
        outputs={"monitoring": {"changeRatio": 0.0}},
        upstream=["monitoring"],
        input_from="monitoring.output",
    ) == (False, "content change 0.00 of monitoring is below threshold 0.05")


def test_content_change_prefers_input_from_then_the_first_upstream_with_a_ratio():
    condition = {"type": "content-change", "threshold": 0.5}
    outputs = {"a": {"changeRatio": 0.9}, "b": {"changeRatio": 0.1}, "c": {"other": 1}}
    assert evaluate_condition(
        condition, parameters={}, outputs=outputs, upstream=["a", "b"], input_from="b.output"
    ) == (False, "content change 0.10 of b is below threshold 0.5")
    assert evaluate_condition(
        condition, parameters={}, outputs=outputs, upstream=["c", "a"], input_from=None
    ) == (True, "")


def test_content_change_without_a_ratio_is_an_error():
    with pytest.raises(ExpressionError, match="no changeRatio in the output of monitoring"):
        evaluate_condition(
            {"type": "content-change", "threshold": 0.1},
            parameters={},
            outputs={"monitoring": {"hasChanges": True}},
            upstream=["monitoring"],
            input_from=None,
        )
    with pytest.raises(ExpressionError, match="not a number"):
        evaluate_condition(
            {"type": "content-change", "threshold": 0.1},
            parameters={},
            outputs={"m": {"changeRatio": "high"}},
            upstream=["m"],
            input_from=None,
        )


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ({"type": "sometimes"}, "unknown condition type 'sometimes'"),
        ({"type": "expression"}, "needs an 'expression' string"),
        ({"type": "content-change", "threshold": "high"}, "numeric 'threshold'"),
    ],
)
def test_bad_conditions_raise(condition, fragment):
    with pytest.raises(ExpressionError, match=fragment):
        evaluate_condition(condition, parameters={}, outputs={}, upstream=[], input_from=None)


@settings(deadline=None)
@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_arithmetic_and_comparison_match_python(a, b):
    names = {"a": a, "b": b}
    assert evaluate("a + b * 2 - 1", names=names) == a + b * 2 - 1
    assert evaluate("a < b and not (a == b)", names=names) == (a < b and a != b)
    assert evaluate("a >= b || a == 0", names=names) == (a >= b or a == 0)


@settings(deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_content_change_is_true_exactly_when_ratio_reaches_threshold(ratio, threshold):
    result, reason = evaluate_condition(
        {"type": "content-change", "threshold": threshold},
        parameters={},
        outputs={"n": {"changeRatio": ratio}},
        upstream=["n"],
        input_from="n.output",
    )
    assert result == (ratio >= threshold)
    assert (reason == "") == result
