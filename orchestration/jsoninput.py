"""Reading JSON that a client sent: one function for every request body.

``json.loads`` accepts three things that later turn into a 500:

* nesting thousands of levels deep (``[[[[...``): the parser, and every
  recursive walk after it, raises ``RecursionError``;
* the NUL character (``"\\u0000"``): PostgreSQL refuses it in ``text`` and in
  ``jsonb`` strings;
* a lone UTF-16 surrogate (``"\\ud800"``): not a Unicode character at all, so
  it cannot be encoded as UTF-8 and the database driver fails on it.

:func:`load` refuses all three with :class:`JsonInputError`, whose ``errors``
name the JSON path of each problem, before any view or query sees the data.
Used by the API's JSON parser (``orchestration.api.guards.JSONParser``), the
webhook receiver (``/hooks/<token>/``) and the pages that take JSON text.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Deeper than any definition, input or event payload needs (a task definition
# nests about 10 levels), and shallow enough for every recursive walk
# (JSON Schema validation, copies, serialisers) to stay far from Python's
# recursion limit of 1000 frames.
MAX_DEPTH = 64

NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
SURROGATE_MESSAGE = (
    "must be valid Unicode text: it holds a lone surrogate (half of a UTF-16 pair, "
    "such as \\ud800), which cannot be stored"
)
DEPTH_MESSAGE = f"the JSON document is nested too deeply (more than {MAX_DEPTH} levels of arrays and objects)"

# A JSON string (escapes included), in the "unrolled loop" form that runs in
# linear time; strings are blanked out before brackets are counted.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonInputError(ValueError):
    """The text is not JSON this service can take.

    ``errors`` is a list of ``{"path": ..., "message": ...}``: ``path`` is the
    JSON path of the problem (``tags[1]``, ``input.text``; ``""`` for the
    whole document). ``syntax`` is true when the text is not JSON at all
    (as opposed to JSON this service refuses).
    """

    def __init__(self, errors: list[dict[str, str]], *, syntax: bool = False) -> None:
        super().__init__("; ".join(f"{e['path'] or 'body'}: {e['message']}" for e in errors))
        self.errors = errors
        self.syntax = syntax


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON ``text`` nests arrays/objects more than ``limit`` levels.

    Counts brackets outside strings without parsing (and stops at the first
    level past the limit), so it is safe on input that would exhaust the
    parser's recursion. Malformed text is judged as far as it goes.
    """
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _shown(key: str) -> str:
    """An object key as a path segment, NULs and surrogates written as escapes."""
    return key.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return NUL_MESSAGE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def text_problems(data: Any, path: str = "") -> list[dict[str, str]]:
    """Every string or object key in ``data`` (parsed JSON) that cannot be
    stored: a NUL character or a lone surrogate. Returned in document order
    as ``{"path", "message"}``; ``path`` prefixes every path (``""``: none).
    Iterative, so safe at any depth."""
    found: list[dict[str, str]] = []
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                found.append({"path": where, "message": problem})
        elif isinstance(item, dict):
            children: list[tuple[str, Any]] = []
            for key, value in item.items():
                sub = f"{where}.{_shown(str(key))}" if where else _shown(str(key))
                problem = _text_problem(key) if isinstance(key, str) else None
                if problem:
                    found.append({"path": sub, "message": problem})
                    continue
                children.append((sub, value))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(f"{where}[{i}]", value) for i, value in enumerate(item)]))
    return found


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load(raw: str | bytes, *, path: str = "") -> Any:
    """Parse a client's JSON document.

    ``raw``: text, or bytes in UTF-8/16/32 (detected as ``json.loads`` does).
    ``path`` prefixes the paths in errors (e.g. ``"body"``). ``NaN`` and
    ``Infinity`` are refused (they are not JSON).

    Raises :class:`JsonInputError` when the bytes are not text, the document
    is not JSON, it nests more than :data:`MAX_DEPTH` levels, or a string or
    key holds a NUL character or a lone surrogate.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode(json.detect_encoding(raw))
        except UnicodeDecodeError as exc:
            raise JsonInputError(
                [{"path": path, "message": f"not valid JSON: the bytes are not text ({exc})"}], syntax=True
            ) from None
    else:
        text = raw
    if too_deep(text):
        raise JsonInputError([{"path": path, "message": DEPTH_MESSAGE}])
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # only reachable when the stack was already deep
        raise JsonInputError([{"path": path, "message": DEPTH_MESSAGE}]) from None
    except ValueError as exc:
        raise JsonInputError([{"path": path, "message": f"not valid JSON: {exc}"}], syntax=True) from None
    problems = text_problems(data, path)
    if problems:
        raise JsonInputError(problems)
    return data
