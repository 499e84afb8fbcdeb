"""One JSON error shape for the whole API:
``{"errors": [{"path": "workflows[1].dependsOn[0]", "message": "..."}]}``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from orchestration.errors import DefinitionInvalid, SecretsMissing


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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DefinitionInvalid):
        return Response({"errors": exc.errors}, status=400)
    if isinstance(exc, SecretsMissing):
        return Response({"errors": exc.errors}, status=409)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"errors": _flatten(response.data)}
    return response


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
