"""REST API of templates: thin views over ``selectors`` and ``services``."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestration.errors import DefinitionInvalid
from orchestration.models import Task
from templates_app import selectors, services
from templates_app.diff import json_diff, text_diff
from templates_app.models import Template


def template_json(template: Template) -> dict[str, Any]:
    """A template version as the API returns it."""
    return {
        **template.document(),
        "extractedParameters": list(template.extracted_parameters),
        "createdAt": template.created_at.isoformat(),
        "createdBy": template.created_by.get_username() if template.created_by else "system",
    }


def _latest(template_id: str) -> Template:
    try:
        return selectors.template_latest(template_id=template_id)
    except Template.DoesNotExist:
        raise Http404(f"no template {template_id!r}") from None


def _version(template_id: str, version: str) -> Template:
    try:
        return selectors.template_version_get(template_id=template_id, version=version)
    except Template.DoesNotExist:
        raise Http404(f"template {template_id!r} has no version {version!r}") from None


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise DefinitionInvalid([{"path": "", "message": "the request body must be a JSON object"}])
    return request.data


class TemplateListCreateAPI(GenericAPIView):
    """``GET``: the latest version of each template (``category``, ``tag``,
    ``search`` filters). ``POST``: create a template (the seed's document)."""

    queryset = Template.objects.none()
    filter_backends: list[Any] = []

    @extend_schema(
        parameters=[
            OpenApiParameter("category", str, description="exact category (case-insensitive)"),
            OpenApiParameter("tag", str, description="templates having this tag"),
            OpenApiParameter("search", str, description="text in id, name, description, category or tags"),
        ],
        responses=OpenApiTypes.OBJECT,
        operation_id="templates_list",
    )
    def get(self, request: Request) -> Response:
        templates = selectors.template_list(
            category=request.query_params.get("category", "").strip(),
            tag=request.query_params.get("tag", "").strip(),
            search=(request.query_params.get("search") or request.query_params.get("q") or "").strip(),
        )
        page = self.paginate_queryset(templates) or []
        return self.get_paginated_response([template_json(t) for t in page])

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT}, operation_id="templates_create")
    def post(self, request: Request) -> Response:
        template = services.template_create(document=request.data, user=request.user)
        return Response(template_json(template), status=status.HTTP_201_CREATED)


class TemplateDetailAPI(APIView):
    """``GET``: the latest version. ``PUT``: a new version from the given fields."""

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="templates_latest")
    def get(self, request: Request, template_id: str) -> Response:
        return Response(template_json(_latest(template_id)))

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT}, operation_id="templates_new_version"
    )
    def put(self, request: Request, template_id: str) -> Response:
        try:
            template = services.template_version_create(
                template_id=template_id, changes=request.data, user=request.user
            )
        except Template.DoesNotExist:
            raise Http404(f"no template {template_id!r}") from None
        return Response(template_json(template), status=status.HTTP_201_CREATED)


class TemplateVersionsAPI(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="templates_versions_list")
    def get(self, request: Request, template_id: str) -> Response:
        versions = list(selectors.template_versions(template_id=template_id))
        if not versions:
            raise Http404(f"no template {template_id!r}")
        return Response(
            {
                "id": template_id,
                "latest": versions[0].version,
                "versions": [
                    {
                        "version": v.version,
                        "name": v.name,
                        "createdAt": v.created_at.isoformat(),
                        "createdBy": v.created_by.get_username() if v.created_by else "system",
                    }
                    for v in versions
                ],
            }
        )


class TemplateVersionAPI(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="templates_version_retrieve")
    def get(self, request: Request, template_id: str, version: str) -> Response:
        return Response(template_json(_version(template_id, version)))


def diff_versions(template_id: str, old: str | None, new: str | None) -> dict[str, Any]:
    """Changes between two versions; ``new`` defaults to the latest and ``old``
    to the version just before ``new``."""
    target = _version(template_id, new) if new else _latest(template_id)
    if old:
        base = _version(template_id, old)
    else:
        older = [v for v in selectors.template_versions(template_id=template_id) if v.semver < target.semver]
        if not older:
            raise DefinitionInvalid(
                [{"path": "from", "message": f"{target.version} is the first version; give from= explicitly"}]
            )
        base = older[0]
    before, after = base.document(), target.document()
    return {
        "id": template_id,
        "from": base.version,
        "to": target.version,
        "changes": json_diff(before, after),
        "diff": text_diff(
            before, after, old_label=f"{template_id}@{base.version}", new_label=f"{template_id}@{target.version}"
        ),
    }


class TemplateDiffAPI(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="older version (default: the one before `to`)"),
            OpenApiParameter("to", str, description="newer version (default: the latest)"),
        ],
        responses=OpenApiTypes.OBJECT,
        operation_id="templates_diff",
    )
    def get(self, request: Request, template_id: str) -> Response:
        return Response(
            diff_versions(template_id, request.query_params.get("from"), request.query_params.get("to"))
        )


class TemplateInstantiateAPI(APIView):
    """Create a task: ``{"parameters", "options": {"schedule", "priority",
    "notificationChannels", ...}, "taskId", "name", "version"}``."""

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT}, operation_id="templates_instantiate"
    )
    def post(self, request: Request, template_id: str) -> Response:
        body = _body(request)
        version = body.get("version")
        template = _version(template_id, version) if version else _latest(template_id)
        task = services.template_instantiate(
            template=template,
            parameters=body.get("parameters"),
            options=body.get("options"),
            task_id=body.get("taskId"),
            name=body.get("name"),
            user=request.user,
        )
        return Response(task_json(task), status=status.HTTP_201_CREATED)


def task_json(task: Task) -> dict[str, Any]:
    from orchestration.credentials import mask_definition
    from orchestration.definition_export import task_to_definition

    return {
        "taskId": task.task_id,
        "template": task.template_id,
        "templateVersion": task.template_version,
        "url": f"/tasks/{task.task_id}/",
        "definition": mask_definition(task_to_definition(task)),
    }


class TemplateUpgradeTaskAPI(APIView):
    """Upgrade a task made from this template: ``{"taskId", "version"?,
    "parameters"?, "confirm"?, "fromVersion"?}``. Without ``confirm`` it only
    previews (kept/dropped parameters, changes and diff); with ``"confirm":
    true`` it applies, refusing if the task moved away from ``fromVersion``."""

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, operation_id="templates_upgrade_task")
    def post(self, request: Request, template_id: str) -> Response:
        body = _body(request)
        task_id = body.get("taskId")
        task = Task.objects.filter(task_id=task_id, template_id=template_id).first() if isinstance(task_id, str) else None
        if task is None:
            raise DefinitionInvalid(
                [{"path": "taskId", "message": f"no task {task_id!r} made from template {template_id!r}"}]
            )
        version = body.get("version")
        target = _version(template_id, version) if version else _latest(template_id)
        if body.get("confirm") is True:
            updated = services.task_upgrade(
                task=task,
                template=target,
                parameters=body.get("parameters"),
                expected_version=body.get("fromVersion"),
                user=request.user,
            )
            return Response({"upgraded": True, **task_json(updated)})
        plan = services.task_upgrade_preview(task=task, template=target, parameters=body.get("parameters"))
        return Response({"upgraded": False, **plan.as_json()})
