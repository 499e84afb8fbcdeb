from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration import expressions
from orchestration.expressions import (
    MAX_SEQUENCE_LENGTH,
    MAX_WORK,
    ExpressionError,
    ExpressionTooCostly,
    check_syntax,
    deep_size,
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


# --- Cost limits: deep sizes, formatting, memory (issue 16 point 5) ---------
@pytest.mark.parametrize(
    "expression",
    [
        # [[1]*99999]*10 is an outer list of 10 holding ~1,000,000 items.
        "[[1]*99999]*10 == [[1]*99999]*10",
        "max([[1]*99999]*100) == 1",
        "[[1]*9999]*9 + [[1]*9999]*9 == []",
        "(([1]*50000,)*2)*1000 == 1",
        "{'a': [[1]*99999]*100}['a'] == 1",
        "[10**999]*2000 == []",
        'f"{1:>999999999}" == ""',
        'f"{[[1]*99999]*1000}" == ""',
    ],
)
def test_nested_and_formatted_values_are_measured_before_they_grow(expression):
    problem = check_syntax(expression)
    assert problem is not None
    assert "longer than 100,000" in problem
    with pytest.raises(ExpressionError, match="longer than 100,000"):
        evaluate(expression, names={})


@pytest.mark.parametrize(
    "expression",
    [
        "[[one]*99999]*n == [[one]*99999]*n",
        'f"{one:>{width}}" == ""',
    ],
)
def test_run_time_values_are_measured_before_they_grow(expression):
    names = {"one": 1, "n": 10, "width": 999_999_999}
    assert check_syntax(expression) is None  # nothing to compute without the names
    with pytest.raises(ExpressionTooCostly, match="longer than 100,000"):
        evaluate(expression, names=names)


@pytest.mark.parametrize(
    "expression",
    [
        '"%*d" % (width, one) == ""',
        '"%" + str(width) + "d" == "" or ("%" + str(width) + "d") % one == ""',
        '"%.50000000f" % 1.0 == ""',
        '"%s" % ([[one]*99999]*n,) == ""',
        'f"{one:>{width}}" == ""',
        "len(str([[one]*99999]*n)) > 0",
        "lower([[one]*99999]*n) == ''",
    ],
)
def test_growing_operations_are_refused_before_they_allocate(expression):
    # Without the estimate each of these builds a string of tens of MB first
    # (a width of 999999999 allocates 1 GB) and only then finds it too long.
    names = {"one": 1, "n": 30, "width": 50_000_000}
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError, match="longer than 100,000"):
            evaluate(expression, names=names)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000


def test_deep_size_counts_each_repetition_of_a_shared_item():
    inner = [1] * 1000
    assert deep_size(inner) == 1000
    assert deep_size([inner] * 50) == 50_000
    assert deep_size({"a": ["xyz", [[]]]}) == 1 + 3 + 1
    assert deep_size([inner] * 101) > MAX_SEQUENCE_LENGTH


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('"%d items" % 3', "3 items"),
        ('"%5.2f|%-3s|%*d" % (3.14159, "a", 4, 7)', " 3.14|a  |   7"),
        ('"%(n)s!" % {"n": "hi"}', "hi!"),
        ("7 % 3", 1),
        ('f"{3:>5}"', "    3"),
        ("len([1]*99999 + [2])", 100_000),
        ("[[1]*999]*100 == [[1]*999]*100", True),
        ("len(str([1, 2]))", 6),
    ],
)
def test_bounded_operators_still_compute_ordinary_values(expression, expected):
    assert check_syntax(expression) is None
    assert evaluate(expression, names={}) == expected


def test_an_evaluation_has_a_total_budget_over_all_computed_values():
    # Each part is under the cap; together they are over MAX_WORK.
    parts = -(-MAX_WORK // 99_999) + 1
    expression = " + ".join(["len([1]*99999)"] * parts) + " > 0"
    assert "units of data in all" in (check_syntax(expression) or "")
    assert check_syntax(" + ".join(["len([1]*99999)"] * 3) + " > 0") is None


def test_memory_error_while_validating_is_a_refusal_not_valid(monkeypatch):
    # MemoryError is an Exception: it was swallowed and the expression passed.
    def out_of_memory(*_args):
        raise MemoryError

    monkeypatch.setattr(expressions, "_bounded_format", out_of_memory)
    assert "more memory" in (check_syntax('"%d" % 1 == ""') or "")


def test_memory_error_while_evaluating_is_an_expression_error(monkeypatch):
    def out_of_memory(*_args):
        raise MemoryError

    monkeypatch.setattr(expressions, "_bounded_format", out_of_memory)
    with pytest.raises(ExpressionTooCostly, match="more memory"):
        evaluate('"%d" % n == ""', names={"n": 1})
