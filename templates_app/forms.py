"""The "Use this template" form, generated from a template's parameter list.

Field values are turned into typed values here; the rules themselves
(required, enum, ranges, patterns) are checked by the same code as the API
(``parameters.validate_values`` through the services), and each error is put
back on its field by its JSON path."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from orchestration.models import Priority
from templates_app.models import Template
from templates_app.parameters import (
    FORMAT_MESSAGES,
    MISSING,
    coerce_form_value,
    enum_choices,
    validate_values,
    value_as_text,
)

PARAM_PREFIX = "param-"
SCHEDULE_TYPES = [("", "No schedule (run by hand)"), ("cron", "Cron"), ("interval", "Every …"), ("manual", "Manual / webhook")]
INTERVAL_UNITS = [("m", "minutes"), ("h", "hours"), ("s", "seconds")]


def _parameter_of(path: str) -> str:
    """``parameters.urls[0]`` -> ``urls``; "" for paths outside the parameters."""
    head, _, rest = path.partition(".")
    return rest.split(".", 1)[0].split("[", 1)[0] if head == "parameters" else ""


def _field_for(param: dict[str, Any]) -> forms.Field:
    kind = param.get("type", "string")
    label = param.get("label") or param["name"]
    help_text = param.get("description", "")
    required = bool(param.get("required")) and "default" not in param
    initial = value_as_text(param, param.get("default", MISSING))
    attrs: dict[str, Any] = {}
    if "enum" in param:
        choices = enum_choices(param)
        if "default" not in param:
            choices = [("", "—"), *choices]
        return forms.ChoiceField(
            label=label, choices=choices, required=False, initial=initial, help_text=help_text
        )
    if kind == "boolean":
        return forms.BooleanField(
            label=label, required=False, initial=param.get("default") is True, help_text=help_text
        )
    if kind in ("number", "integer"):
        attrs["step"] = "1" if kind == "integer" else "any"
        for key in ("minimum", "maximum"):
            if key in param:
                attrs[key[:3]] = param[key]
        widget: forms.Widget = forms.NumberInput(attrs=attrs)
    elif kind in ("array", "object"):
        placeholder = 'e.g. ["a", "b"] (JSON)' if kind == "array" else 'e.g. {"key": "value"} (JSON)'
        widget = forms.Textarea(attrs={"rows": 3, "placeholder": placeholder})
    else:
        if "pattern" in param:
            attrs["pattern"] = param["pattern"]
        hint = FORMAT_MESSAGES.get(str(param.get("format")))
        if hint or "pattern" in param:
            # Browsers show the title in their "match the requested format" bubble.
            attrs["title"] = f"{hint[0].upper()}{hint[1:]}" if hint else (help_text or f"Must match {param['pattern']}")
        input_type = {"email": "email", "uri": "url"}.get(str(param.get("format")), "text")
        widget = forms.TextInput(attrs={**attrs, "type": input_type})
    if required:
        widget.attrs["required"] = True
    return forms.CharField(
        label=label, required=False, initial=initial, help_text=help_text, widget=widget, strip=False
    )


class UseTemplateForm(forms.Form):
    """Task id and name, one field per parameter, and the task options."""

    task_id = forms.CharField(
        label="Task id", required=False, max_length=200,
        help_text="Letters, digits, - and _. Left empty, one is made from the template id.",
    )
    task_name = forms.CharField(label="Task name", required=False, max_length=300)
    priority = forms.ChoiceField(label="Priority", choices=Priority.choices, initial=Priority.NORMAL)
    schedule_type = forms.ChoiceField(label="Schedule", choices=SCHEDULE_TYPES, required=False)
    schedule_expression = forms.CharField(
        label="Cron expression", required=False, initial="0 */2 * * *", help_text="5 fields: minute hour day month weekday"
    )
    schedule_interval = forms.IntegerField(label="Every", required=False, min_value=1, initial=30)
    schedule_unit = forms.ChoiceField(label="Unit", choices=INTERVAL_UNITS, required=False, initial="m")
    schedule_timezone = forms.CharField(label="Time zone", required=False, initial=settings.TIME_ZONE)
    notify_emails = forms.CharField(
        label="Email recipients", required=False, help_text="Comma-separated; a report is mailed after each run."
    )
    notify_webhook = forms.URLField(label="Webhook URL", required=False, assume_scheme="https")

    def __init__(self, *args: Any, template: Template, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        for param in template.parameters:
            self.fields[PARAM_PREFIX + param["name"]] = _field_for(param)
        if template.notification_channels:
            note = "Leave both empty to use the template's own channels; filling one in replaces them."
            self.fields["notify_emails"].help_text = f"Comma-separated. {note}"

    def parameter_fields(self) -> list[forms.BoundField]:
        return [self[PARAM_PREFIX + p["name"]] for p in self.template.parameters]

    def typed_parameters(self) -> dict[str, Any]:
        """The parameter values as typed values. Text that cannot be its
        parameter's type, and every rule a value breaks (required, enum,
        range, ...), become errors on the parameter's field."""
        values: dict[str, Any] = {}
        unreadable: set[str] = set()
        for param in self.template.parameters:
            key = PARAM_PREFIX + param["name"]
            raw = self.data.get(key) if param.get("type") != "boolean" else (self.data.get(key) or None)
            value, problem = coerce_form_value(param, raw)
            if problem:
                self.add_error(key, problem)
                unreadable.add(param["name"])
            elif value is not MISSING:
                values[param["name"]] = value
        _, problems = validate_values(self.template.parameters, values)
        # A field whose text could not be read is also "missing"; one message is enough.
        self.add_path_errors([p for p in problems if _parameter_of(p["path"]) not in unreadable])
        return values

    def options(self) -> dict[str, Any]:
        data = self.cleaned_data
        options: dict[str, Any] = {"priority": data.get("priority") or Priority.NORMAL}
        kind = data.get("schedule_type")
        if kind:
            schedule: dict[str, Any] = {"type": kind, "enabled": True}
            if data.get("schedule_timezone"):
                schedule["timezone"] = data["schedule_timezone"].strip()
            if kind == "cron":
                schedule["expression"] = (data.get("schedule_expression") or "").strip()
            elif kind == "interval":
                schedule["interval"] = data.get("schedule_interval")
                schedule["unit"] = data.get("schedule_unit") or "m"
            elif kind == "manual":
                schedule["trigger"] = "api"
            options["schedule"] = schedule
        channels = []
        emails = [e.strip() for e in (data.get("notify_emails") or "").split(",") if e.strip()]
        if emails:
            channels.append(
                {"type": "email", "config": {"recipients": emails, "subject": f"{self.template.name} report"}}
            )
        if data.get("notify_webhook"):
            channels.append({"type": "webhook", "config": {"url": data["notify_webhook"]}})
        if channels:
            options["notificationChannels"] = channels
        return options

    def add_path_errors(self, errors: list[dict[str, str]]) -> None:
        """Put service errors on the field their JSON path points at."""
        for error in errors:
            field = self._field_for_path(error.get("path", ""))
            message = error["message"]
            if field is None and error.get("path"):
                message = f"{error['path']}: {message}"
            if field is not None and field in self.errors and message in self.errors[field]:
                continue
            self.add_error(field, message)

    def _field_for_path(self, path: str) -> str | None:
        name = _parameter_of(path)
        if name:
            key = PARAM_PREFIX + name
            return key if key in self.fields else None
        if path == "taskId":
            return "task_id"
        if path == "name":
            return "task_name"
        if path == "options.priority":
            return "priority"
        if path.startswith("options.schedule"):
            leaf = path.rsplit(".", 1)[-1]
            return {
                "expression": "schedule_expression",
                "interval": "schedule_interval",
                "unit": "schedule_unit",
                "timezone": "schedule_timezone",
            }.get(leaf, "schedule_type")
        if path.startswith("options.notificationChannels"):
            return "notify_webhook" if "url" in path else "notify_emails"
        return None
