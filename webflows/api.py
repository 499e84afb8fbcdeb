"""REST API: step workflows (CRUD by name), stored browser sessions (cookie
values are write-only) and the sandbox's change endpoints."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestration.errors import DefinitionInvalid
from webflows import selectors, services
from webflows.models import BrowserSession, Workflow
from webflows.sandbox.state import sandbox_advance, sandbox_reset, sandbox_revision

READ_ONLY = ("needsBrowser", "createdAt", "updatedAt")
# A JSON array of objects (the list endpoints answer a plain array, not a page).
OBJECT_LIST = {
    200: OpenApiResponse(
        response={"type": "array", "items": {"type": "object", "additionalProperties": {}}}
    )
}


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise DefinitionInvalid([{"path": "", "message": "the body must be a JSON object"}])
    return {k: v for k, v in request.data.items() if k not in READ_ONLY}


class WorkflowListView(APIView):
    @extend_schema(summary="List step workflows", operation_id="workflows_list", responses=OBJECT_LIST)
    def get(self, request: Request) -> Response:
        return Response([selectors.step_workflow_detail(w) for w in Workflow.objects.all()])

    @extend_schema(summary="Create a step workflow", request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        workflow = services.step_workflow_create(definition=_body(request))
        return Response(selectors.step_workflow_detail(workflow), status=status.HTTP_201_CREATED)


class WorkflowDetailView(APIView):
    @extend_schema(summary="A step workflow's definition", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, name: str) -> Response:
        return Response(selectors.step_workflow_detail(selectors.step_workflow_get(name=name)))

    @extend_schema(summary="Replace a step workflow", request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def put(self, request: Request, name: str) -> Response:
        workflow = selectors.step_workflow_get(name=name)
        updated = services.step_workflow_update(workflow=workflow, definition=_body(request))
        return Response(selectors.step_workflow_detail(updated))

    @extend_schema(summary="Change some keys of a step workflow", request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, name: str) -> Response:
        workflow = selectors.step_workflow_get(name=name)
        merged = {**workflow.as_definition(), **_body(request)}
        merged = {k: v for k, v in merged.items() if v is not None}
        updated = services.step_workflow_update(workflow=workflow, definition=merged)
        return Response(selectors.step_workflow_detail(updated))

    @extend_schema(summary="Delete a step workflow", responses={204: None})
    def delete(self, request: Request, name: str) -> Response:
        selectors.step_workflow_get(name=name).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class BrowserSessionListView(APIView):
    @extend_schema(
        summary="Stored browser sessions (cookie names only)", operation_id="browser_sessions_list", responses=OBJECT_LIST
    )
    def get(self, request: Request) -> Response:
        return Response([selectors.browser_session_detail(s) for s in BrowserSession.objects.all()])

    @extend_schema(
        summary="Import a site's cookies (a browser export, a storage state or a Cookie header)",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        body = _body(request)
        session = services.browser_session_import(
            site=str(body.get("site") or ""), cookies=body.get("cookies"), domain=str(body.get("domain") or "")
        )
        return Response(selectors.browser_session_detail(session), status=status.HTTP_201_CREATED)


class BrowserSessionDetailView(APIView):
    @extend_schema(summary="A stored browser session (cookie names only)", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, site: str) -> Response:
        return Response(selectors.browser_session_detail(get_object_or_404(BrowserSession, site=site)))

    @extend_schema(summary="Forget a stored browser session", responses={204: None})
    def delete(self, request: Request, site: str) -> Response:
        get_object_or_404(BrowserSession, site=site).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class SandboxView(APIView):
    @extend_schema(summary="The sandbox site's revision and entry points", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(_sandbox_info(request, sandbox_revision()))


class SandboxAdvanceView(APIView):
    @extend_schema(
        summary="Change the sandbox: a new post with new images, an edited and a new headline",
        request=None,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request) -> Response:
        steps = request.data.get("steps", 1) if isinstance(request.data, dict) else 1
        if not isinstance(steps, int) or not 1 <= steps <= 100:
            raise DefinitionInvalid([{"path": "steps", "message": "an integer from 1 to 100"}])
        return Response(_sandbox_info(request, sandbox_advance(steps=steps)))


class SandboxResetView(APIView):
    @extend_schema(summary="Put the sandbox back to revision 0", request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request) -> Response:
        return Response(_sandbox_info(request, sandbox_reset()))


def _sandbox_info(request: Request, revision: int) -> dict[str, Any]:
    from webflows.sandbox.content import SANDBOX_UID

    root = request.build_absolute_uri("/sandbox/")
    return {
        "revision": revision,
        "site": root,
        "newsPage": f"{root}news/",
        "javascriptPage": f"{root}app/",
        "membersPage": f"{root}members/",
        "weiboProfile": f"{root}weibo/u/{SANDBOX_UID}",
        "weiboApiBase": f"{root}weibo",
    }
