"""Reads of the templates app."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, Q

from orchestration.models import Task
from templates_app.models import Template, TemplateQuerySet


def template_list(*, category: str = "", tag: str = "", search: str = "") -> TemplateQuerySet:
    """The latest version of every template, filtered by category, tag and text."""
    templates = Template.objects.latest_versions()
    if category:
        templates = templates.filter(category__iexact=category)
    if tag:
        if connection.features.supports_json_field_contains:
            templates = templates.filter(tags__contains=[tag])
        else:
            # SQLite has no JSON containment; match the quoted tag in the stored list.
            templates = templates.filter(tags__icontains=f'"{tag}"')
    if search:
        templates = templates.filter(
            Q(name__icontains=search)
            | Q(description__icontains=search)
            | Q(template_id__icontains=search)
            | Q(category__icontains=search)
            | Q(tags__icontains=search)
        )
    return templates.order_by("category", "name", "template_id")


def template_latest(*, template_id: str) -> Template:
    """The newest version; raises Template.DoesNotExist."""
    found = Template.objects.filter(template_id=template_id).order_by("-major", "-minor", "-patch").first()
    if found is None:
        raise Template.DoesNotExist(template_id)
    return found


def template_version_get(*, template_id: str, version: str) -> Template:
    return Template.objects.get(template_id=template_id, version=version)


def template_versions(*, template_id: str) -> TemplateQuerySet:
    return Template.objects.filter(template_id=template_id).order_by("-major", "-minor", "-patch")


def template_categories() -> list[str]:
    return list(
        Template.objects.latest_versions()
        .exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )


def template_tags() -> list[str]:
    tags: set[str] = set()
    for row in Template.objects.latest_versions().values_list("tags", flat=True):
        tags.update(t for t in row or [] if isinstance(t, str))
    return sorted(tags)


def template_tasks(*, template_id: str) -> list[Task]:
    """Tasks made from this template, newest first."""
    return list(Task.objects.filter(template_id=template_id).order_by("-created_at"))


def template_task_counts() -> dict[str, int]:
    rows = Task.objects.exclude(template_id="").values("template_id").annotate(n=Count("id"))
    return {row["template_id"]: row["n"] for row in rows}
