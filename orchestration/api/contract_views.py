"""Serves the published JSON Schemas of task and template definitions."""

from __future__ import annotations

from django.http import Http404, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from orchestration import contract


class DefinitionSchemaView(APIView):
    """``GET /api/v1/schemas/<name>.json``: the JSON Schema (2020-12) of a task
    or template definition, for editors and client generators. Public: a
    schema holds no data."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        summary="JSON Schema of a task or template definition",
        parameters=[
            OpenApiParameter(
                "name", str, OpenApiParameter.PATH, enum=list(contract.SCHEMA_NAMES)
            )
        ],
        responses={(200, "application/schema+json"): OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, name: str) -> JsonResponse:
        try:
            document = contract.schema(name)
        except contract.UnknownSchema as exc:
            raise Http404(str(exc)) from exc
        response = JsonResponse(document, json_dumps_params={"ensure_ascii": False, "indent": 2})
        response["Content-Type"] = "application/schema+json"
        response["Cache-Control"] = "public, max-age=300"
        return response
