"""Task templates. Every row is one immutable version of a template; the
template itself is the set of rows sharing a ``template_id``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from templates_app.versions import Version


class ImmutableVersionError(RuntimeError):
    """Raised when code tries to change a stored template version."""


class TemplateQuerySet(models.QuerySet["Template"]):
    def latest_versions(self) -> TemplateQuerySet:
        """Only the newest version of each template."""
        newest = (
            Template.objects.filter(template_id=models.OuterRef("template_id"))
            .order_by("-major", "-minor", "-patch")
            .values("pk")[:1]
        )
        return self.filter(pk=models.Subquery(newest))

    def update(self, **kwargs: Any) -> int:
        # Deleting a user sets created_by to NULL through QuerySet.update; that
        # is bookkeeping, not a change of the version's content.
        if set(kwargs) - {"created_by", "created_by_id"}:
            raise ImmutableVersionError("template versions are immutable; create a new version instead")
        return super().update(**kwargs)


class Template(models.Model):
    """One version of a template: the seed's template document plus who made it."""

    template_id = models.SlugField("id", max_length=200)
    version = models.CharField(max_length=40)
    # The version's numbers, stored so that "latest" and ordering are done by the database.
    major = models.PositiveIntegerField(editable=False)
    minor = models.PositiveIntegerField(editable=False)
    patch = models.PositiveIntegerField(editable=False)
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    # Typed parameter list as the template declares it plus the extracted ones
    # (``extracted: true``), in the seed's list shape.
    parameters = models.JSONField(default=list, blank=True)
    extracted_parameters = models.JSONField(default=list, blank=True)
    secrets = models.JSONField(default=list, blank=True)
    workflows = models.JSONField(default=list)
    # Default notificationChannels of the tasks made from this version.
    notification_channels = models.JSONField(null=True, blank=True)
    # The document exactly as submitted (plus the version it was stored as).
    definition = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TemplateQuerySet.as_manager()

    class Meta:
        ordering = ["template_id", "-major", "-minor", "-patch"]
        constraints = [
            models.UniqueConstraint(fields=["template_id", "version"], name="template_unique_version"),
        ]
        indexes = [models.Index(fields=["template_id", "-major", "-minor", "-patch"])]

    def __str__(self) -> str:
        return f"{self.template_id}@{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableVersionError(
                f"template {self.template_id} version {self.version} is immutable; create a new version"
            )
        super().save(*args, **kwargs)

    @property
    def semver(self) -> Version:
        return Version(self.major, self.minor, self.patch)

    @property
    def parameter_names(self) -> list[str]:
        return [p["name"] for p in self.parameters]

    def document(self) -> dict[str, Any]:
        """The template as the API shows it: the seed's fields, extracted parameters included."""
        doc: dict[str, Any] = {
            "id": self.template_id,
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "category": self.category,
            "tags": list(self.tags),
            "parameters": self.parameters,
            "workflows": self.workflows,
        }
        if self.notification_channels is not None:
            doc["notificationChannels"] = self.notification_channels
        if self.secrets:
            doc["secrets"] = list(self.secrets)
        return doc
