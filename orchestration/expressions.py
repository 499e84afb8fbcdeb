"""A safe expression language for node conditions (never Python ``eval``).

Built on simpleeval's AST walker. What an expression may use:

* literals: numbers, strings, ``true``/``false``/``null`` (and Python's
  ``True``/``False``/``None``), list, tuple and object literals;
* comparisons (``== != < <= > >=``, ``in``, ``not in``), ``and``/``or``/``not``
  (``&&``, ``||`` and ``!`` are accepted too), arithmetic, ``x if c else y``;
* names: parameters and upstream node ids; ``a.b.c`` reads keys of objects,
  ``a[0]`` / ``a["key"]`` indexes; ``node.output`` is the node's whole output;
* functions: ``len min max abs round int float str bool lower upper``.

Node ids that are not identifiers (``batch-download``) may be written as they
are when the evaluator knows the name; ``-`` between two known names is
otherwise subtraction.

Every expression has a bounded cost (the limits are the ``MAX_*`` constants
below). At parse time: its length, the number of syntax-tree nodes and their
nesting depth; a part made of literals only (``9**3999999``) is computed
during validation, so a definition that could never run is refused there.
While evaluating: powers, shifts and products whose result would exceed
``MAX_INTEGER_DIGITS`` are refused before they are computed, and every
computed number, string or list is checked against the caps. Sizes are deep:
a list counts the sizes of its items (a string its characters, an integer its
digits), and a list repeated by reference (``[[1]*99999]*1000``) counts every
repetition, so nesting cannot hide a million items behind a short outer list.
``+``, ``*``, ``%`` formatting and ``str``/``lower``/``upper`` are estimated
before they are computed; the results of list, tuple and object literals are
checked too, so comparisons, ``in``, ``min``/``max`` and ``str()`` only ever
walk bounded data (or the run's own inputs). Every evaluation, the one during
validation included, also has a total budget (``MAX_WORK`` size units summed
over all computed values). simpleeval's own
limits (``MAX_POWER`` = 4,000,000 as an exponent, ``MAX_STRING_LENGTH``) let
``(9**3999999)*(9**3999999)`` run for a minute, hence the tighter ones.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import simpleeval

_WRAPPED_RE = re.compile(r"^\s*\$\{(.*)\}\s*$", re.DOTALL)
_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LITERALS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}


# Cost limits (see the module docstring). Conditions are short: these leave
# ample room for real ones and keep any evaluation well under a millisecond.
MAX_EXPRESSION_LENGTH = 2000  # characters of the expression text
MAX_NODES = 400  # syntax-tree nodes
MAX_DEPTH = 40  # nesting of syntax-tree nodes
MAX_INTEGER_DIGITS = 1000  # decimal digits of any computed integer
MAX_INTEGER_BITS = math.ceil(MAX_INTEGER_DIGITS * math.log2(10))
MAX_SEQUENCE_LENGTH = 100_000  # characters of a computed string, items of a computed list
MAX_ROUND_DIGITS = 1000  # |ndigits| of round()
MAX_WORK = 1_000_000  # size units summed over every value one evaluation computes


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says why."""


class ExpressionTooCostly(ExpressionError):
    """An expression over one of the cost limits (``MAX_*`` constants)."""


def _integer_bits(value: Any) -> int:
    return value.bit_length() if isinstance(value, int) else 0


_CONTAINERS = (list, tuple, dict, set, frozenset)
_TOO_LONG = f"a string or list in the expression would be longer than {MAX_SEQUENCE_LENGTH:,}"


def _scalar_size(value: Any) -> int:
    kind = type(value)
    if kind is str or kind is bytes:
        return len(value) or 1
    if kind is int:
        return 1 + (value.bit_length() >> 6)  # one unit per 64 bits (about 19 digits)
    return 1


def deep_size(value: Any, limit: int = MAX_SEQUENCE_LENGTH) -> int:
    """Size of ``value`` in units: a string's characters, an integer's 64-bit
    words, 1 for any other scalar, and for a list, tuple, set or object the
    sum of its items' (keys' and values') sizes (at least 1). An item held
    twice by reference counts twice: ``[[1]*99999]*1000`` is 99,999,000.

    Stops as soon as the size is known to exceed ``limit`` and then returns a
    number above it, so the walk costs O(limit) whatever the value holds.
    Iterative (no recursion), memoised by object identity."""
    if not isinstance(value, _CONTAINERS):
        return _scalar_size(value)
    sizes: dict[int, int] = {}
    work = 0
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, expanded = stack.pop()
        if id(item) in sizes:
            continue
        if len(item) > limit:  # each part is worth at least 1
            return limit + 1
        parts = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        work += len(parts) + 1
        if work > 4 * limit:
            return limit + 1
        if not expanded:
            nested = [part for part in parts if isinstance(part, _CONTAINERS) and id(part) not in sizes]
            if nested:
                stack.append((item, True))
                stack.extend((part, False) for part in nested)
                continue
        total = 0
        for part in parts:
            kind = type(part)
            if kind is int:
                total += 1 + (part.bit_length() >> 6)
            elif kind is str or kind is bytes:
                total += len(part) or 1
            elif isinstance(part, _CONTAINERS):
                total += sizes[id(part)]
            else:
                total += 1
        sizes[id(item)] = max(1, total)
        if total > limit:
            return limit + 1
    return sizes[id(value)]


def _check_size(value: Any) -> Any:
    """``value`` unchanged, or ExpressionTooCostly when it is over the caps
    (integers by digits, strings and containers by ``deep_size``)."""
    if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
        raise ExpressionTooCostly(f"a number in the expression would have more than {MAX_INTEGER_DIGITS} digits")
    if isinstance(value, (str, bytes, *_CONTAINERS)) and deep_size(value) > MAX_SEQUENCE_LENGTH:
        raise ExpressionTooCostly(_TOO_LONG)
    return value


def _bounded_power(base: Any, exponent: Any) -> Any:
    # Estimated before computing: 9**3999999 takes seconds just to build.
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if (abs(base).bit_length() - 1) * exponent > MAX_INTEGER_BITS:
            raise ExpressionTooCostly(
                f"a power in the expression would have more than {MAX_INTEGER_DIGITS} digits"
            )
    return _check_size(base**exponent)


def _bounded_multiply(left: Any, right: Any) -> Any:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | bytes | list | tuple) and isinstance(count, int) and count > 0:
            if deep_size(sequence) * count > MAX_SEQUENCE_LENGTH:
                raise ExpressionTooCostly(_TOO_LONG)
    if _integer_bits(left) + _integer_bits(right) > MAX_INTEGER_BITS + 1:
        raise ExpressionTooCostly(f"a product in the expression would have more than {MAX_INTEGER_DIGITS} digits")
    return left * right  # the result is checked by _Evaluator._spend


def _bounded_add(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
        if deep_size(left) + deep_size(right) > MAX_SEQUENCE_LENGTH:
            raise ExpressionTooCostly(_TOO_LONG)
    return left + right  # the result is checked by _Evaluator._spend


# printf-style conversion: %[(key)][flags][width][.precision][length]type
_FORMAT_SPEC_RE = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)


def _bounded_format(left: Any, right: Any) -> Any:
    """``left % right``; for string formatting, estimated first: the format
    text, the widths and precisions (``*`` ones taken as the largest integer
    argument) and the arguments' deep sizes must stay within the cap."""
    if not isinstance(left, str | bytes):
        return _check_size(left % right)
    text = left.decode("latin-1") if isinstance(left, bytes) else left
    arguments = right if isinstance(right, tuple) else (right,)
    largest = max((abs(a) for a in arguments if isinstance(a, int)), default=0)
    estimate = len(text) + sum(deep_size(argument) for argument in arguments)
    for match in _FORMAT_SPEC_RE.finditer(text):
        for number in match.group(1, 2):
            if number == "*":
                estimate += largest
            elif number:
                estimate += int(number) if len(number) <= 9 else MAX_SEQUENCE_LENGTH + 1
        if match.group(3) in "rsa":  # repr() of an argument may escape each character (up to 10 for one)
            estimate += 9 * sum(deep_size(argument) for argument in arguments)
        if estimate > MAX_SEQUENCE_LENGTH:
            raise ExpressionTooCostly(_TOO_LONG)
    return left % right  # the result is checked by _Evaluator._spend


def _bounded_shift(left: Any, right: Any) -> Any:
    if isinstance(right, int) and _integer_bits(left) + right > MAX_INTEGER_BITS:
        raise ExpressionTooCostly(f"a shift in the expression would have more than {MAX_INTEGER_DIGITS} digits")
    return _check_size(left << right)


def _bounded_round(number: Any, ndigits: Any = None) -> Any:
    # round(5, -10**9) computes 10**(10**9) internally.
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise ExpressionTooCostly(f"round() takes at most {MAX_ROUND_DIGITS} digits")
    return number if ndigits is None and isinstance(number, int) else round(number, ndigits)


def _bounded_str(value: Any = "") -> str:
    # str() of a value is at most ~10 characters per size unit (repr escapes).
    if deep_size(value) > MAX_SEQUENCE_LENGTH:
        raise ExpressionTooCostly(_TOO_LONG)
    return str(value)


def _lower(text: str) -> str:
    return _bounded_str(text).lower()


def _upper(text: str) -> str:
    return _bounded_str(text).upper()


FUNCTIONS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": _bounded_round,
    "int": int,
    "float": float,
    "str": _bounded_str,
    "bool": bool,
    "lower": _lower,
    "upper": _upper,
}


class _NodeOutput(dict):  # type: ignore[type-arg]
    """A node's output as seen by expressions: ``node.output`` is the node itself."""


def unwrap(expression: str) -> str:
    """``${a == b}`` -> ``a == b``; anything else is returned as it is."""
    match = _WRAPPED_RE.match(expression)
    return match.group(1) if match else expression


def _split_strings(text: str) -> list[tuple[bool, str]]:
    """Cut ``text`` into (is_string_literal, chunk) pieces."""
    pieces: list[tuple[bool, str]] = []
    position = 0
    code_start = 0
    while position < len(text):
        char = text[position]
        if char in "'\"":
            end = position + 1
            while end < len(text) and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            pieces.append((False, text[code_start:position]))
            pieces.append((True, text[position : end + 1]))
            position = end + 1
            code_start = position
        else:
            position += 1
    pieces.append((False, text[code_start:]))
    return pieces


def _normalise(expression: str, known: Iterable[str]) -> tuple[str, dict[str, str]]:
    """Rewrite JavaScript-style operators and non-identifier names into Python
    syntax. Returns the new text and a map alias -> original name."""
    aliases: dict[str, str] = {}
    odd_names = sorted((n for n in known if not _IDENTIFIER_RE.match(n)), key=len, reverse=True)
    patterns = []
    for index, name in enumerate(odd_names):
        alias = f"ref{index}_"
        aliases[alias] = name
        patterns.append((re.compile(rf"(?<![\w.\-]){re.escape(name)}(?![\w\-])"), alias))
    out: list[str] = []
    for is_string, chunk in _split_strings(unwrap(expression)):
        if not is_string:
            chunk = chunk.replace("===", "==").replace("!==", "!=")
            chunk = chunk.replace("&&", " and ").replace("||", " or ")
            chunk = re.sub(r"!(?!=)", " not ", chunk)
            for pattern, alias in patterns:
                chunk = pattern.sub(alias, chunk)
        out.append(chunk)
    return "".join(out).strip(), aliases


class _Evaluator(simpleeval.EvalWithCompoundTypes):
    """simpleeval with object access that reads keys (never attributes or
    methods of Python objects) and without comprehensions."""

    def __init__(self, names: dict[str, Any]) -> None:
        super().__init__(functions=dict(FUNCTIONS), names=names)
        for banned in (ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp):
            self.nodes.pop(banned, None)
        self.operators.update(
            {
                ast.Pow: _bounded_power,
                ast.Mult: _bounded_multiply,
                ast.Add: _bounded_add,
                ast.LShift: _bounded_shift,
                ast.RShift: operator.rshift,
                ast.Mod: _bounded_format,
            }
        )
        self.spent = 0

    def _spend(self, value: Any) -> Any:
        """``value`` after checking it against the caps and charging its size
        to this evaluation's MAX_WORK budget."""
        if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
            _check_size(value)
        size = deep_size(value)
        if size > MAX_SEQUENCE_LENGTH:
            raise ExpressionTooCostly(_TOO_LONG)
        self.spent += size
        if self.spent > MAX_WORK:
            raise ExpressionTooCostly(
                f"the expression computes more than {MAX_WORK:,} units of data in all; simplify it"
            )
        return value

    # Results of operators and functions are checked against the caps; names
    # are not, so a large input may still be read (``len(body) > 0``).
    def _eval_binop(self, node: ast.BinOp) -> Any:
        return self._spend(super()._eval_binop(node))

    def _eval_unaryop(self, node: ast.UnaryOp) -> Any:
        return self._spend(super()._eval_unaryop(node))

    def _eval_call(self, node: ast.Call) -> Any:
        return self._spend(super()._eval_call(node))

    # Literal containers are computed values too: [x, x, x] == [x, x, x].
    def _eval_list(self, node: ast.List) -> Any:
        return self._spend(super()._eval_list(node))

    def _eval_tuple(self, node: ast.Tuple) -> Any:
        return self._spend(super()._eval_tuple(node))

    def _eval_dict(self, node: ast.Dict) -> Any:
        return self._spend(super()._eval_dict(node))

    def _eval_set(self, node: ast.Set) -> Any:
        return self._spend(super()._eval_set(node))

    # f-strings: each part is stringified within the cap, and a format spec's
    # widths (f"{1:>999999999}") are estimated before formatting.
    def _eval_joinedstr(self, node: ast.JoinedStr) -> Any:
        parts = [_bounded_str(self._eval(part)) for part in node.values]
        if sum(map(len, parts)) > MAX_SEQUENCE_LENGTH:
            raise ExpressionTooCostly(_TOO_LONG)
        return self._spend("".join(parts))

    def _eval_formattedvalue(self, node: ast.FormattedValue) -> Any:
        value = self._eval(node.value)
        if not node.format_spec:
            return value
        spec = _bounded_str(self._eval(node.format_spec))
        widths = sum(int(run) if len(run) <= 9 else MAX_SEQUENCE_LENGTH + 1 for run in re.findall(r"\d+", spec))
        if widths + deep_size(value) > MAX_SEQUENCE_LENGTH:
            raise ExpressionTooCostly(_TOO_LONG)
        return self._spend(("{:" + spec + "}").format(value))

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        base = self._eval(node.value)
        if isinstance(base, _NodeOutput) and node.attr == "output":
            return base
        if isinstance(base, Mapping):
            if node.attr in base:
                return base[node.attr]
            raise ExpressionError(f"{ast.unparse(node.value)} has no field {node.attr!r}")
        raise ExpressionError(
            f"cannot read .{node.attr} of {ast.unparse(node.value)}: it is a {_type_name(base)}, not an object"
        )

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        base = self._eval(node.value)
        key = self._eval(node.slice)
        if isinstance(base, _NodeOutput) and key == "output" and "output" not in base:
            return base
        try:
            return base[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise ExpressionError(f"{ast.unparse(node.value)} has no item {key!r}") from exc


def _type_name(value: Any) -> str:
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "list",
        type(None): "null",
    }.get(type(value), type(value).__name__)


# Parsed by ``ast`` but never evaluated: comprehensions could run for a long time.
_FORBIDDEN_NODES = (
    ast.Lambda,
    ast.NamedExpr,
    ast.ListComp,
    ast.DictComp,
    ast.SetComp,
    ast.GeneratorExp,
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.Starred,
)


def _parse(expression: str, known: Iterable[str] = ()) -> tuple[ast.expr, dict[str, str]]:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionTooCostly(
            f"the expression is {len(expression):,} characters long; at most {MAX_EXPRESSION_LENGTH:,} are allowed"
        )
    text, aliases = _normalise(expression, known)
    if not text:
        raise ExpressionError("the expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            f"invalid expression {unwrap(expression).strip()!r}: {exc.msg}"
        ) from None
    except (RecursionError, MemoryError):
        raise ExpressionTooCostly(_too_deep()) from None
    _check_shape(tree.body)
    return tree.body, aliases


# Nodes that only mark an operator or a context; not counted as parts.
_MARKERS = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _too_deep() -> str:
    return f"the expression is nested more than {MAX_DEPTH} levels deep"


def _check_shape(tree: ast.expr) -> None:
    """Refuse trees over MAX_NODES nodes or MAX_DEPTH levels (walked without
    recursion: the tree may be deeper than Python's stack)."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionTooCostly(f"the expression has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise ExpressionTooCostly(_too_deep())
        stack.extend(
            (child, depth + 1) for child in ast.iter_child_nodes(node) if not isinstance(child, _MARKERS)
        )


def _is_constant(node: ast.AST) -> bool:
    """Whether ``node`` reads no names (functions and true/false/null aside)."""
    parts = list(ast.walk(node))
    functions = {id(part.func) for part in parts if isinstance(part, ast.Call)}
    return not any(
        isinstance(part, ast.Attribute | ast.Subscript)
        or (isinstance(part, ast.Name) and id(part) not in functions and part.id not in LITERALS)
        for part in parts
    )


_TOO_COSTLY_TO_COMPUTE = "the expression needs more memory or nesting than a condition may use; simplify it"


def _constant_cost_problem(tree: ast.expr) -> str | None:
    """Compute the largest parts made of literals only; the message of the
    first that is over a cost limit, else None. Other evaluation errors are
    left to run time (a branch that is never taken may divide by zero)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Call | ast.JoinedStr) and _is_constant(node):
            evaluator = _Evaluator(dict(LITERALS))
            try:
                evaluator._eval(node)
            except ExpressionTooCostly as exc:
                return str(exc)
            except (MemoryError, RecursionError):
                # Never "valid": the part could not even be computed here.
                return _TOO_COSTLY_TO_COMPUTE
            except Exception:  # noqa: BLE001 - any other failure is a run-time matter
                pass
            continue
        stack.extend(ast.iter_child_nodes(node))
    return None


def check_syntax(expression: str, *, known: Iterable[str] = ()) -> str | None:
    """The reason ``expression`` cannot be parsed, or None when it can.

    ``known`` lists names that may not be identifiers (node ids with ``-``)."""
    if not isinstance(expression, str):
        return "the expression must be a string"
    try:
        tree, _ = _parse(expression, known)
    except ExpressionError as exc:
        return str(exc)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                return (
                    f"function {ast.unparse(node.func)!r} is not available; "
                    f"use one of {', '.join(sorted(FUNCTIONS))}"
                )
        elif isinstance(node, _FORBIDDEN_NODES):
            return f"{type(node).__name__} is not allowed in a condition"
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return f"field names starting with '_' are not allowed ({node.attr})"
    return _constant_cost_problem(tree)


def expression_names(expression: str, *, known: Iterable[str] = ()) -> set[str]:
    """Root names the expression reads (literals and functions excluded)."""
    tree, aliases = _parse(expression, known)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in called and node.id not in LITERALS:
            names.add(aliases.get(node.id, node.id))
    return names


def evaluate(expression: str, *, names: Mapping[str, Any]) -> Any:
    """Evaluate ``expression`` over ``names``; raises ExpressionError on any problem."""
    problem = check_syntax(expression, known=names.keys())
    if problem:
        raise ExpressionError(problem)
    tree, aliases = _parse(expression, names.keys())
    scope: dict[str, Any] = {alias: names[original] for alias, original in aliases.items()}
    scope.update({name: value for name, value in names.items() if _IDENTIFIER_RE.match(name)})
    scope.update(LITERALS)
    evaluator = _Evaluator(scope)
    evaluator.expr = unwrap(expression).strip()
    try:
        return evaluator._eval(tree)
    except ExpressionError:
        raise
    except (MemoryError, RecursionError):
        raise ExpressionTooCostly(_TOO_COSTLY_TO_COMPUTE) from None
    except simpleeval.NameNotDefined as exc:
        raise ExpressionError(f"unknown name {exc.name!r} in {evaluator.expr!r}") from None
    except simpleeval.InvalidExpression as exc:
        raise ExpressionError(f"cannot evaluate {evaluator.expr!r}: {exc}") from None
    except (TypeError, ValueError, ZeroDivisionError, ArithmeticError, KeyError, IndexError) as exc:
        raise ExpressionError(f"cannot evaluate {evaluator.expr!r}: {exc}") from None


def evaluate_condition(
    condition: Mapping[str, Any] | None,
    *,
    parameters: Mapping[str, Any],
    outputs: Mapping[str, Any],
    upstream: Sequence[str],
    input_from: str | None,
) -> tuple[bool, str]:
    """Whether a node's condition holds, and when not, a reason a person can read.

    ``outputs`` maps node ids to outputs; only the ``upstream`` nodes are
    visible. ``input_from`` is the node's ``inputFrom`` (``node.output``)."""
    if condition is None:
        return True, ""
    kind = condition.get("type")
    if kind == "expression":
        expression = condition.get("expression")
        if not isinstance(expression, str):
            raise ExpressionError("an expression condition needs an 'expression' string")
        names: dict[str, Any] = dict(parameters)
        for node_id in upstream:
            if node_id in outputs:
                output = outputs[node_id]
                names[node_id] = _NodeOutput(output) if isinstance(output, Mapping) else output
        result = evaluate(expression, names=names)
        if result:
            return True, ""
        return False, f'condition "{unwrap(expression).strip()}" is false'
    if kind == "content-change":
        threshold = condition.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ExpressionError("a content-change condition needs a numeric 'threshold'")
        source, ratio = _change_ratio(outputs, upstream, input_from)
        if ratio >= threshold:
            return True, ""
        return False, f"content change {ratio:.2f} of {source} is below threshold {threshold:g}"
    raise ExpressionError(f"unknown condition type {kind!r}; use 'expression' or 'content-change'")


def _change_ratio(
    outputs: Mapping[str, Any], upstream: Sequence[str], input_from: str | None
) -> tuple[str, float]:
    candidates: list[str] = []
    if input_from:
        candidates.append(input_from.split(".", 1)[0])
    candidates.extend(node_id for node_id in upstream if node_id not in candidates)
    for node_id in candidates:
        output = outputs.get(node_id)
        if isinstance(output, Mapping) and "changeRatio" in output:
            ratio = output["changeRatio"]
            if isinstance(ratio, bool) or not isinstance(ratio, int | float):
                raise ExpressionError(f"changeRatio of {node_id} is not a number: {ratio!r}")
            return node_id, float(ratio)
    where = ", ".join(candidates) or "no upstream node"
    raise ExpressionError(f"content-change condition: no changeRatio in the output of {where}")
