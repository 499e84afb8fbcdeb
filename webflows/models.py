"""Stored step workflows, per-site browser sessions and the sandbox site's state."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.db import models

from webflows.operations import BROWSER_OPERATIONS

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]*$", "Use lowercase letters, digits and dashes (a slug)."
)


class Workflow(models.Model):
    """A step workflow: a list of operations stored as data, usable as a node's
    ``workflow`` by its ``name``. The node's config is the workflow's input."""

    name = models.CharField(max_length=200, unique=True, validators=[slug_validator])
    version = models.CharField(max_length=50, default="1.0.0")
    description = models.TextField(blank=True)
    input_schema = models.JSONField(default=dict, blank=True)
    steps = models.JSONField(default=list)
    # {"selector": "...", "urlPattern": "..."}: a page matching it means the session expired.
    login_check = models.JSONField(null=True, blank=True)
    # Name of the stored browser session (cookies per site) this workflow uses.
    session_site = models.CharField(max_length=200, blank=True)
    save_session = models.BooleanField(
        default=False, help_text="Store the cookies the run ends with for the next runs."
    )
    browser = models.BooleanField(
        default=False, help_text="Run in headless Chromium even if no step needs it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def needs_browser(self) -> bool:
        """True when any step is a browser operation (or the workflow asks for one)."""
        return self.browser or any(
            isinstance(step, dict) and step.get("op") in BROWSER_OPERATIONS for step in self.steps
        )

    def as_definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "inputSchema": self.input_schema,
            "steps": self.steps,
            "loginCheck": self.login_check,
            "session": {"site": self.session_site, "save": self.save_session} if self.session_site else None,
            "browser": self.browser,
        }


class BrowserSession(models.Model):
    """Cookies for one site, imported from a browser export or captured by a
    run, reused by later runs. Cookie values are credentials: never shown."""

    site = models.CharField(max_length=200, unique=True)
    cookies = models.JSONField(default=list, blank=True)
    source = models.CharField(
        max_length=20, choices=[("import", "Imported"), ("captured", "Captured by a run")], default="import"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site"]

    def __str__(self) -> str:
        return self.site

    @property
    def cookie_names(self) -> list[str]:
        return sorted({c.get("name", "") for c in self.cookies if isinstance(c, dict)})


class SandboxState(models.Model):
    """The sandbox site's content revision. Kept in the database so the web
    process serving the sandbox and the workers watching it agree."""

    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sandbox state"

    def __str__(self) -> str:
        return f"sandbox revision {self.revision}"
