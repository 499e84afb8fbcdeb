"""Planning the upgrade of a task to another version of its template: which
parameters are kept, dropped or defaulted, the new definition, and the
changes an operator reviews before confirming."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from orchestration.definition_export import task_to_definition
from orchestration.models import Task
from templates_app.diff import Change, json_diff, text_diff
from templates_app.models import Template
from templates_app.parameters import Error, validate_values
from templates_app.substitution import substitute


@dataclass
class UpgradePlan:
    task_id: str
    template_id: str
    from_version: str
    to_version: str
    parameters: dict[str, Any]
    kept: list[str] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)
    errors: list[Error] = field(default_factory=list)
    definition: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    text: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "template": self.template_id,
            "fromVersion": self.from_version,
            "toVersion": self.to_version,
            "canUpgrade": not self.errors,
            "parameters": self.parameters,
            "kept": self.kept,
            "dropped": self.dropped,
            "defaulted": self.defaulted,
            "errors": self.errors,
            "changes": self.changes,
            "diff": self.text,
        }


def _declared_names(template_id: str, version: str) -> set[str] | None:
    old = Template.objects.filter(template_id=template_id, version=version).first()
    return None if old is None else set(old.parameter_names)


def plan_upgrade(*, task: Task, template: Template, overrides: Any = None) -> UpgradePlan:
    """What the task becomes under ``template``. Current parameter values are
    kept when they still validate against the new version; a value that no
    longer does is dropped (its new default applies, if any); a parameter the
    old version declared and the new one does not is dropped; other extra
    parameters the task carries are kept. ``overrides`` replace values."""
    plan = UpgradePlan(
        task_id=task.task_id,
        template_id=template.template_id,
        from_version=task.template_version,
        to_version=template.version,
        parameters={},
    )
    if overrides is not None and not isinstance(overrides, dict):
        plan.errors.append({"path": "parameters", "message": "must be an object of parameter values"})
        return plan
    new_params = {p["name"]: p for p in template.parameters}
    old_declared = _declared_names(task.template_id, task.template_version) if task.template_id else None
    candidate: dict[str, Any] = {}
    for name, value in (task.parameters or {}).items():
        if name in (overrides or {}):
            continue
        if name in new_params:
            _, problems = validate_values([new_params[name]], {name: value})
            if problems:
                plan.dropped.append({"name": name, "reason": problems[0]["message"]})
                continue
            candidate[name] = value
            plan.kept.append(name)
        elif old_declared is not None and name in old_declared:
            plan.dropped.append({"name": name, "reason": f"version {template.version} no longer declares it"})
        else:
            candidate[name] = value
            plan.kept.append(name)
    candidate.update(copy.deepcopy(overrides or {}))
    values, errors = validate_values(template.parameters, candidate)
    plan.defaulted = [n for n in values if n not in candidate]
    plan.parameters = values
    plan.errors.extend(errors)

    current = task_to_definition(task)
    workflows, errors = substitute(template.workflows, values=values, parameter_names=set(new_params))
    plan.errors.extend(errors)
    new = copy.deepcopy(current)
    new.update(
        {
            "template": template.template_id,
            "templateVersion": template.version,
            "parameters": values,
            "workflows": workflows,
        }
    )
    plan.definition = new
    plan.changes = json_diff(current, new)
    plan.text = text_diff(
        current,
        new,
        old_label=f"{task.task_id} (template {task.template_version or 'none'})",
        new_label=f"{task.task_id} (template {template.version})",
    )
    return plan
