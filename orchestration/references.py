"""``${...}`` references in task definitions, and keeping secrets out of output.

Rules (SPEC section 3):

* A string that is exactly ``${name}`` takes the referenced value with its
  type: a number stays a number, an object stays an object.
* ``${...}`` inside longer text is interpolated. Strings go in as they are;
  every other value is written as JSON (``true``, ``false``, ``null``,
  ``3``, ``0.1``, ``{"a": 1}``), so what ends up in the text is never a
  Python repr and never silently empty.
* A name is looked up, in this order, as a parameter, as an upstream node
  (``node.a.b[0]`` walks into its output; ``node.output`` and
  ``node.output.x`` are accepted too, ``output`` meaning the node's whole
  output), and finally in the secrets store (plain names only).
  Anything else raises :class:`UnresolvedReference`.

This module is pure Python (no ORM) apart from :func:`secret_lookup_from_db`.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REFERENCE_RE = re.compile(r"\$\{([^{}]*)\}")
REDACTED = "********"
URL_RESERVED = ":/?#[]@!$&'()*+,;=~"

# One step of a path: ``.name`` or ``[0]`` / ``["key"]`` / ``['key']``.
_STEP_RE = re.compile(r"""\.([^.\[\]]+)|\[\s*(?:(-?\d+)|"([^"]*)"|'([^']*)')\s*\]""")

SecretLookup = Callable[[str], "str | None"]


class UnresolvedReference(LookupError):
    """A ``${...}`` reference that names nothing known (or a path that does not exist)."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        message = f"unresolvable reference ${{{name}}}"
        if detail:
            message = f"{message}: {detail}"
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


def find_references(value: Any) -> list[str]:
    """Every ``${...}`` inner text (stripped) in strings anywhere inside ``value``, in order."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            found.extend(match.strip() for match in REFERENCE_RE.findall(item))
        elif isinstance(item, Mapping):
            for child in item.values():
                walk(child)
        elif isinstance(item, list | tuple):
            for child in item:
                walk(child)

    walk(value)
    return found


def reference_root(ref: str) -> str:
    """The first name of a reference: ``monitoring.hasChanges`` -> ``monitoring``."""
    ref = ref.strip()
    end = len(ref)
    for separator in (".", "["):
        position = ref.find(separator)
        if position != -1:
            end = min(end, position)
    return ref[:end].strip()


def parse_path(ref: str) -> tuple[str, list[str | int]]:
    """Split ``node.a.b[0]`` into ``("node", ["a", "b", 0])``.

    Raises UnresolvedReference when the text after the root is not a path.
    """
    ref = ref.strip()
    root = reference_root(ref)
    rest = ref[len(root) :]
    steps: list[str | int] = []
    position = 0
    while position < len(rest):
        match = _STEP_RE.match(rest, position)
        if match is None:
            raise UnresolvedReference(ref, f"cannot read the path {rest[position:]!r}")
        name, index, double_quoted, single_quoted = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(next(s for s in (name, double_quoted, single_quoted) if s is not None))
        position = match.end()
    return root, steps


def _walk(ref: str, value: Any, steps: list[str | int], where: str) -> Any:
    for step in steps:
        if isinstance(value, Mapping) and isinstance(step, str) and step in value:
            value = value[step]
        elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
        elif (
            isinstance(value, list)
            and isinstance(step, str)
            and step.isascii()
            and step.isdigit()
            and int(step) < len(value)
        ):
            value = value[int(step)]
        else:
            raise UnresolvedReference(ref, f"{where} has no {step!r}")
        where = f"{where}.{step}" if isinstance(step, str) else f"{where}[{step}]"
    return value


def lookup(
    ref: str,
    *,
    parameters: Mapping[str, Any],
    outputs: Mapping[str, Any],
    secret_lookup: SecretLookup,
    used_secrets: set[str] | None = None,
) -> Any:
    """The value one reference (the text inside ``${...}``) stands for."""
    root, steps = parse_path(ref)
    if not root:
        raise UnresolvedReference(ref, "empty name")
    if root in parameters:
        return _walk(ref, parameters[root], steps, f"parameter {root}")
    if root in outputs:
        if steps and steps[0] == "output":
            steps = steps[1:]
        return _walk(ref, outputs[root], steps, f"the output of {root}")
    if not steps:
        secret = secret_lookup(root)
        if secret is not None:
            if used_secrets is not None:
                used_secrets.add(secret)
            return secret
    raise UnresolvedReference(ref, "not a parameter, an upstream node or a stored secret")


def to_text(value: Any) -> str:
    """How a value is written when interpolated into a longer string."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def resolve(
    value: Any,
    *,
    parameters: Mapping[str, Any],
    outputs: Mapping[str, Any],
    secret_lookup: SecretLookup,
    used_secrets: set[str] | None = None,
) -> Any:
    """A deep copy of ``value`` with every ``${...}`` substituted (see module doc)."""

    def one(ref: str) -> Any:
        return lookup(
            ref,
            parameters=parameters,
            outputs=outputs,
            secret_lookup=secret_lookup,
            used_secrets=used_secrets,
        )

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            whole = REFERENCE_RE.fullmatch(item)
            if whole is not None:
                return copy.deepcopy(one(whole.group(1)))
            return REFERENCE_RE.sub(lambda match: to_text(one(match.group(1))), item)
        if isinstance(item, Mapping):
            return {key: walk(child) for key, child in item.items()}
        if isinstance(item, list | tuple):
            return [walk(child) for child in item]
        return copy.deepcopy(item)

    return walk(value)


def with_parameters(value: Any, parameters: Mapping[str, Any], *, everywhere: bool = True) -> Any:
    """``value`` with the ``${...}`` references to ``parameters`` substituted
    (typed when one is the whole string, as :func:`resolve` does) and every
    other reference left for later; a path that a parameter does not have
    raises UnresolvedReference. Without ``everywhere`` only strings that are
    a whole reference to a parameter itself (``"${maxPosts}"``) are replaced."""

    def one(match: re.Match[str], whole: bool) -> Any:
        ref = match.group(1).strip()
        if reference_root(ref) not in parameters or not (everywhere or (whole and ref == reference_root(ref))):
            return match.group(0)
        found = lookup(ref, parameters=parameters, outputs={}, secret_lookup=lambda name: None)
        return copy.deepcopy(found) if whole else to_text(found)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            whole = REFERENCE_RE.fullmatch(item)
            return one(whole, True) if whole else REFERENCE_RE.sub(lambda match: one(match, False), item)
        if isinstance(item, Mapping):
            return {key: walk(child) for key, child in item.items()}
        return [walk(child) for child in item] if isinstance(item, list) else item

    return walk(value)


def secret_forms(secret: str) -> set[str]:
    """A few literal ways a secret can appear in text a node produced: as it
    is, percent-encoded (``quote``/``quote_plus``) and JSON-escaped. Kept for
    callers that want examples; matching uses :func:`secret_pattern`, which
    covers every mix of these forms."""
    if not secret:
        return set()
    # surrogatepass: a lone surrogate still gets a (byte-wise) encoded form.
    errors = "surrogatepass"
    return {
        secret,
        quote(secret, safe="", errors=errors),
        quote(secret, errors=errors),
        quote(secret, safe=URL_RESERVED, errors=errors),
        quote_plus(secret, safe="", errors=errors),
        quote_plus(secret, errors=errors),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


# A part of a secret before a ``#`` is matched on its own (a URL's fragment is
# never sent, so a server sees only that part) when it has at least this many
# characters; shorter parts would mask ordinary text.
MIN_SECRET_PART = 4


def _char_pattern(char: str) -> str:
    """Every way one character of a secret may be written by a client: raw,
    percent-encoded byte by byte (hex in either case, encoded any number of
    times: ``%2520``), ``+`` for a space, or JSON-escaped (``\\u00e9``-style,
    ``\\"``)."""
    options = [re.escape(char)]
    encoded = char.encode("utf-8", "surrogatepass")
    options.append("".join(f"%(?:25)*(?i:{byte:02x})" for byte in encoded))
    if char == " ":
        options.append(r"\+")
    escaped = json.dumps(char)[1:-1]
    if escaped != char:
        options.append(re.escape(escaped) if not escaped.startswith("\\u") else "(?i:" + re.escape(escaped) + ")")
    if char == "/":
        options.append(r"\\/")
    return "(?:" + "|".join(options) + ")"


def secret_pattern(secret: str) -> str:
    """A regular expression (source text) matching ``secret`` in any form a
    client produces: each character raw or percent-encoded (any case, any
    number of times), ``+`` for a space, JSON-escaped; plus the part before
    a ``#`` (see :data:`MIN_SECRET_PART`). Empty for an empty secret."""
    if not secret:
        return ""
    alternatives = ["".join(_char_pattern(char) for char in secret)]
    head = secret.split("#", 1)[0]
    if head != secret and len(head) >= MIN_SECRET_PART:
        alternatives.append("".join(_char_pattern(char) for char in head))
    return "|".join(alternatives)


def secrets_regex(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One compiled pattern for all ``secrets`` (longest first, so a secret that
    contains another is not left half shown); None when there are none."""
    return _compiled(frozenset(s for s in secrets if s))


@functools.lru_cache(maxsize=256)
def _compiled(secrets: frozenset[str]) -> re.Pattern[str] | None:
    ordered = sorted(secrets, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile("|".join(f"(?:{secret_pattern(s)})" for s in ordered))


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """A deep copy of ``value`` with every occurrence of a secret inside strings
    (values and keys), in any form of :func:`secret_pattern`, replaced by ``********``."""
    pattern = secrets_regex(secrets)
    if pattern is None:
        return copy.deepcopy(value)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return pattern.sub(REDACTED, item)
        if isinstance(item, Mapping):
            return {walk(key): walk(child) for key, child in item.items()}
        if isinstance(item, list | tuple):
            return [walk(child) for child in item]
        return copy.deepcopy(item)

    return walk(value)


def secret_lookup_from_db() -> SecretLookup:
    """A lookup reading ``orchestration.models.Secret`` (each name queried once)."""
    from orchestration.models import Secret

    cache: dict[str, str | None] = {}

    def lookup_secret(name: str) -> str | None:
        if name not in cache:
            cache[name] = Secret.objects.filter(name=name).values_list("value", flat=True).first()
        return cache[name]

    return lookup_secret
