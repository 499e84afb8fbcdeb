"""One JSON error shape for the whole API:
``{"errors": [{"path": "workflows[1].dependsOn[0]", "message": "..."}]}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.signals import got_request_exception
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from orchestration.errors import DefinitionInvalid, SecretsMissing

logger = logging.getLogger(__name__)


def _flatten(detail: Any, path: str = "") -> list[dict[str, str]]:
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            if key in ("non_field_errors", "detail"):
                sub = path
            else:
                sub = f"{path}.{key}" if path else str(key)
            out.extend(_flatten(value, sub))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                out.extend(_flatten(value, f"{path}[{index}]"))
            else:
                out.extend(_flatten(value, path))
        return out
    return [{"path": path, "message": str(detail)}]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler, answering every error in the one JSON shape.

    ``DefinitionInvalid`` and DRF's own exceptions (validation, 401, 403, 404,
    405, 415 ...) keep their status. A database ``DataError`` (a value the
    column cannot hold, e.g. an integer out of range) is the client's: 400.
    Anything else is a bug: logged with its traceback, reported to Django's
    ``got_request_exception`` listeners, and answered with a JSON 500 that
    leaks nothing (never Django's HTML error page).
    """
    if isinstance(exc, DefinitionInvalid):
        return Response({"errors": exc.errors}, status=400)
    if isinstance(exc, SecretsMissing):
        return Response({"errors": exc.errors}, status=409)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"errors": _flatten(response.data)}
        return response
    request = context.get("request")
    if isinstance(exc, DataError):
        logger.info("database refused a value: %s", exc)
        return Response(
            {"errors": [{"path": "", "message": "a value is out of range or not valid here"}]},
            status=400,
        )
    logger.error("unexpected error in %s", getattr(request, "path", "?"), exc_info=exc)
    if request is not None:
        got_request_exception.send(sender=None, request=getattr(request, "_request", request))
    return Response(
        {"errors": [{"path": "", "message": "internal error; the server log has the details"}]},
        status=500,
    )


def conflict(message: str, path: str = "") -> Response:
    """409: the request is well formed but the resource's state does not allow it."""
    return Response({"errors": [{"path": path, "message": message}]}, status=409)


class ErrorSerializer(serializers.Serializer):
    path = serializers.CharField(
        help_text='JSON path of the problem, e.g. "workflows[1].dependsOn[0]".'
    )
    message = serializers.CharField()


# The body of every error response (a declared field named "errors" would
# shadow Serializer.errors, hence the inline serializer).
ErrorResponseSerializer = inline_serializer(
    name="ErrorResponse", fields={"errors": ErrorSerializer(many=True)}
)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: JSON under ``/api/`` (a path no route matches), HTML elsewhere."""
    if _is_api(request):
        return JsonResponse(
            {"errors": [{"path": "", "message": "no such resource"}]}, status=404
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: JSON under ``/api/``, HTML elsewhere."""
    if _is_api(request):
        return JsonResponse(
            {"errors": [{"path": "", "message": "internal error; the server log has the details"}]},
            status=500,
        )
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler400``: JSON under ``/api/``, HTML elsewhere."""
    if _is_api(request):
        return JsonResponse({"errors": [{"path": "", "message": str(exception) or "bad request"}]}, status=400)
    return defaults.bad_request(request, exception)
