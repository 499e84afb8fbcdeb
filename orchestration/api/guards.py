"""Input guards shared by every API view: text PostgreSQL cannot store is
refused with a 400 naming the field, before any view or query sees it.

PostgreSQL rejects the NUL character (U+0000) in ``text``/``varchar`` values
and in ``jsonb`` strings ("A string literal cannot contain NUL (0x00)
characters"), so a NUL that reached a filter or a save turned into a 500. The
guards cover the three ways text comes in:

* the URL path and the query string (:class:`NulByteGuardMiddleware`, for API
  and page requests alike);
* JSON, form and multipart bodies (the parsers below, DRF's
  ``DEFAULT_PARSER_CLASSES``);
* OPTIONS requests of views without a serializer (:class:`ApiMetadata`).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from rest_framework import exceptions, parsers
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request

from orchestration import jsoninput

NUL = "\x00"
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"


def nul_paths(data: Any, path: str = "") -> list[str]:
    """JSON paths (``tags[1]``, ``input.text``; ``""`` for the root) of every
    string, or object key, in ``data`` that contains a NUL character."""
    found: list[str] = []
    if isinstance(data, str):
        if NUL in data:
            found.append(path)
    elif isinstance(data, dict):
        for key, value in data.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and NUL in key:
                found.append(sub.replace(NUL, "\\u0000"))
                continue
            found.extend(nul_paths(value, sub))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found.extend(nul_paths(value, f"{path}[{index}]"))
    return found


def _refuse(paths: list[str]) -> None:
    if paths:
        raise exceptions.ValidationError({path or "non_field_errors": [NUL_MESSAGE] for path in paths})


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, reading through :func:`orchestration.jsoninput.load`:
    a document nested too deeply, or a NUL character or lone surrogate in any
    string or key, is a 400 naming the JSON path (``ParseError`` for text that
    is not JSON, as DRF's own parser answers)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", django_settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        try:
            return jsoninput.load(text)
        except jsoninput.JsonInputError as exc:
            if exc.syntax:
                raise exceptions.ParseError(f"JSON parse error - {exc.errors[0]['message']}") from None
            raise exceptions.ValidationError(
                {error["path"] or "non_field_errors": [error["message"]] for error in exc.errors}
            ) from None


def _form_fields(data: Any) -> dict[str, Any]:
    """A QueryDict as ``{name: value}``, or ``{name: [values]}`` for repeated names."""
    return {key: (values[0] if len(values) == 1 else values) for key, values in data.lists()}


class FormParser(parsers.FormParser):
    """DRF's form parser, refusing NUL characters in names and values."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        _refuse(nul_paths(_form_fields(data)))
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, refusing NUL characters in field names and values."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        result = super().parse(stream, media_type, parser_context)
        _refuse(nul_paths(_form_fields(result.data)))
        return result


def query_nul_paths(request: HttpRequest) -> list[str]:
    """Names of the query parameters (or ``"path"`` for the URL path) carrying a NUL."""
    found = ["path"] if NUL in request.path else []
    for key, values in request.GET.lists():
        if NUL in key or any(NUL in value for value in values):
            found.append(key.replace(NUL, "\\u0000"))
    return found


class NulByteGuardMiddleware:
    """Refuse a request whose URL path or query string holds a NUL character:
    a JSON 400 (``{"errors": [{"path": "search", "message": ...}]}``) under
    ``/api/``, a plain 400 for pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = query_nul_paths(request)
        if not found:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            errors = [{"path": name, "message": f"{name} {NUL_MESSAGE}"} for name in found]
            return JsonResponse({"errors": errors}, status=400)
        return HttpResponseBadRequest(f"{', '.join(found)} {NUL_MESSAGE}", content_type="text/plain")


class ApiMetadata(SimpleMetadata):
    """OPTIONS answers: name, description, parsers and renderers, plus the
    writable fields when the view has a serializer (views built on plain
    ``APIView``/``GenericAPIView`` without one used to fail with a 500)."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        if getattr(view, "serializer_class", None) is None and not _overrides_serializer_class(view):
            return {}
        return super().determine_actions(request, view)


def _overrides_serializer_class(view: Any) -> bool:
    from rest_framework.generics import GenericAPIView

    method = getattr(type(view), "get_serializer_class", None)
    return method is not None and method is not GenericAPIView.get_serializer_class


# PostgreSQL's bigint: the widest id column; bigger numbers cannot name a row.
MAX_ID = 2**63 - 1


def query_id(params: Any, name: str) -> int | None:
    """The query parameter ``name`` as a row id, or None when absent or empty.

    Raises ``ValidationError({name: ...})`` (a 400 naming the parameter) when
    the value is not a whole number between 1 and 2**63-1, instead of letting
    the database refuse it with a 500.
    """
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 <= int(raw) <= MAX_ID:
        raise exceptions.ValidationError({name: f"must be an id (a whole number), not {raw!r}"})
    return int(raw)
