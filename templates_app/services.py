"""Writes of the templates app: creating templates and versions, creating
tasks from a template, and upgrading a task to a newer template version."""

from __future__ import annotations

import copy
import secrets as _random
from typing import Any

from django.db import IntegrityError, transaction

from orchestration import events
from orchestration.errors import DefinitionInvalid
from orchestration.models import Task
from orchestration.services import task_create, task_update
from templates_app.definition import CheckedTemplate, check_template
from templates_app.models import Template
from templates_app.parameters import Error, validate_values
from templates_app.substitution import substitute
from templates_app.upgrade import UpgradePlan, plan_upgrade
from templates_app.versions import VersionError, parse_version

# Task-level fields an instantiation may set besides the parameters; the first
# three are the seed's TaskOptions, the rest are the other task fields a
# template does not fix.
OPTION_FIELDS = (
    "schedule",
    "priority",
    "notificationChannels",
    "timeout",
    "maxRetries",
    "retryDelay",
    "resourceRequirements",
    "errorHandling",
)


def _store(checked: CheckedTemplate, *, user: Any) -> Template:
    definition = copy.deepcopy(checked.document)
    definition["id"] = checked.template_id
    definition["version"] = str(checked.version)
    template = Template(
        template_id=checked.template_id,
        version=str(checked.version),
        major=checked.version.major,
        minor=checked.version.minor,
        patch=checked.version.patch,
        name=checked.name,
        description=checked.description,
        category=checked.category,
        tags=checked.tags,
        parameters=[*checked.parameters, *checked.extracted],
        extracted_parameters=[p["name"] for p in checked.extracted],
        secrets=checked.secrets,
        workflows=checked.workflows,
        notification_channels=checked.notification_channels,
        definition=definition,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    try:
        # Two requests may store the same new version at once; the unique
        # constraint decides, and the loser gets a clear error, not a 500.
        with transaction.atomic():
            template.save()
            events.emit(
                "template.created",
                data={
                    "templateId": template.template_id,
                    "version": template.version,
                    "name": template.name,
                    "createdBy": template.created_by.get_username() if template.created_by else "system",
                },
                source="templates",
            )
    except IntegrityError:
        raise DefinitionInvalid(
            [{"path": "version", "message": f"version {checked.version} of {checked.template_id} already exists"}]
        ) from None
    return template


def _locked_versions(template_id: str) -> list[Template]:
    """Every version of the template, newest first, read under a lock.

    Two concurrent updates would otherwise both compute the same "next"
    version from the same latest one. They queue on the lock of the first
    version row (which no update changes); the versions are then read by a new
    statement, which on PostgreSQL's READ COMMITTED sees what the previous
    lock holder committed (a locking read alone would not see new rows)."""
    first = (
        Template.objects.select_for_update()
        .filter(template_id=template_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:1]
    )
    if not list(first):
        return []
    return list(Template.objects.filter(template_id=template_id).order_by("-major", "-minor", "-patch"))


def template_create(*, document: Any, user: Any = None) -> Template:
    """Store a template document. A new id starts at its given version (1.0.0
    by default); an existing id only accepts a higher version than its latest."""
    checked, errors = check_template(document)
    if checked is None:
        raise DefinitionInvalid(errors)
    with transaction.atomic():
        versions = _locked_versions(checked.template_id)
        if versions:
            latest = versions[0]
            if any(v.version == str(checked.version) for v in versions):
                raise DefinitionInvalid(
                    [
                        {
                            "path": "version",
                            "message": f"version {checked.version} of {checked.template_id} already exists and "
                            f"versions are immutable; give a version above {latest.version} or update the template",
                        }
                    ]
                )
            if checked.version < latest.semver:
                raise DefinitionInvalid(
                    [{"path": "version", "message": f"must be higher than the latest version {latest.version}"}]
                )
        return _store(checked, user=user)


def template_version_create(*, template_id: str, changes: Any, user: Any = None) -> Template:
    """A new version of an existing template: ``changes`` (all or some of the
    document's fields) replace the latest version's. Without a ``version``
    the patch number goes up by one; a given version must be higher."""
    if not isinstance(changes, dict):
        raise DefinitionInvalid([{"path": "", "message": "a template must be a JSON object"}])
    if "id" in changes and changes["id"] != template_id:
        raise DefinitionInvalid([{"path": "id", "message": f"must be {template_id!r} (the template being updated)"}])
    with transaction.atomic():
        versions = _locked_versions(template_id)
        if not versions:
            raise Template.DoesNotExist(template_id)
        latest = versions[0]
        if "version" in changes:
            try:
                version = parse_version(changes["version"])
            except VersionError as exc:
                raise DefinitionInvalid([{"path": "version", "message": str(exc)}]) from None
            if version <= latest.semver:
                raise DefinitionInvalid(
                    [
                        {
                            "path": "version",
                            "message": f"must be higher than the latest version {latest.version} "
                            "(leave it out to bump the patch number)",
                        }
                    ]
                )
        else:
            version = latest.semver.next_patch()
        document = {**copy.deepcopy(latest.definition), **copy.deepcopy(changes)}
        document["id"] = template_id
        document["version"] = str(version)
        checked, errors = check_template(document, version_required=True)
        if checked is None:
            raise DefinitionInvalid(errors)
        return _store(checked, user=user)


def _check_options(options: Any) -> tuple[dict[str, Any], list[Error]]:
    if options is None:
        return {}, []
    if not isinstance(options, dict):
        return {}, [{"path": "options", "message": "must be an object"}]
    errors: list[Error] = [
        {"path": f"options.{key}", "message": f"unknown option (allowed: {', '.join(OPTION_FIELDS)})"}
        for key in options
        if key not in OPTION_FIELDS
    ]
    return {k: v for k, v in options.items() if k in OPTION_FIELDS and v is not None}, errors


def _new_task_id(template_id: str) -> str:
    return f"{template_id}-{_random.token_hex(4)}"


def template_task_definition(
    *,
    template: Template,
    parameters: Any,
    options: Any = None,
    task_id: Any = None,
    name: Any = None,
) -> dict[str, Any]:
    """The task definition a template gives for these parameters and options.
    Raises DefinitionInvalid with every problem (``parameters.<name>``,
    ``options.<field>``, ``taskId``)."""
    values, errors = validate_values(template.parameters, parameters)
    picked, option_errors = _check_options(options)
    errors.extend(option_errors)
    if task_id is not None and (not isinstance(task_id, str) or not task_id.strip()):
        errors.append({"path": "taskId", "message": "must be a non-empty text"})
    if name is not None and not isinstance(name, str):
        errors.append({"path": "name", "message": "must be text"})
    if errors:
        raise DefinitionInvalid(errors)
    names = set(template.parameter_names)
    workflows, errors = substitute(template.workflows, values=values, parameter_names=names)
    channels = None
    if template.notification_channels is not None and "notificationChannels" not in picked:
        channels, channel_errors = substitute(
            template.notification_channels, values=values, parameter_names=names, root="notificationChannels"
        )
        errors.extend(channel_errors)
    if errors:
        raise DefinitionInvalid(errors)
    definition: dict[str, Any] = {
        "taskId": task_id.strip() if isinstance(task_id, str) else _new_task_id(template.template_id),
        "name": name.strip() if isinstance(name, str) and name.strip() else template.name,
        "description": template.description,
        "template": template.template_id,
        "templateVersion": template.version,
        "category": template.category,
        "tags": list(template.tags),
        "parameters": values,
        "workflows": workflows,
    }
    if channels is not None:
        definition["notificationChannels"] = channels
    definition.update(copy.deepcopy(picked))
    return definition


def _option_paths(errors: list[Error]) -> list[Error]:
    """Task validation reports ``schedule.expression``; the caller gave it as
    ``options.schedule.expression``."""
    out = []
    for error in errors:
        path = error.get("path", "")
        head = path.split(".", 1)[0].split("[", 1)[0]
        if head in OPTION_FIELDS:
            path = "options." + path
        out.append({**error, "path": path})
    return out


def template_instantiate(
    *,
    template: Template,
    parameters: Any,
    options: Any = None,
    task_id: Any = None,
    name: Any = None,
    user: Any = None,
) -> Task:
    """Create a task from ``template``: parameters validated (defaults applied),
    substituted with their types, options applied. The task records the
    template's id and version."""
    definition = template_task_definition(
        template=template, parameters=parameters, options=options, task_id=task_id, name=name
    )
    try:
        return task_create(definition=definition, user=user)
    except DefinitionInvalid as exc:
        raise DefinitionInvalid(_option_paths(exc.errors)) from None


def task_upgrade_preview(
    *, task: Task, template: Template, parameters: Any = None
) -> UpgradePlan:
    """What upgrading ``task`` to ``template`` (a version) would change; writes nothing."""
    return plan_upgrade(task=task, template=template, overrides=parameters)


def task_upgrade(
    *,
    task: Task,
    template: Template,
    parameters: Any = None,
    expected_version: str | None = None,
    user: Any = None,
) -> Task:
    """Move ``task`` to another version of its template, keeping the parameters
    that still validate. ``expected_version`` is the version the preview was
    made from; a task changed since then is refused rather than surprising
    the operator with changes they did not see."""
    with transaction.atomic():
        # Locked so two confirmations (or an edit and a confirmation) do not
        # both build on the same old definition.
        locked = Task.objects.select_for_update().get(pk=task.pk)
        if expected_version is not None and locked.template_version != expected_version:
            raise DefinitionInvalid(
                [
                    {
                        "path": "fromVersion",
                        "message": f"the task is now at version {locked.template_version or '(none)'}, "
                        f"not {expected_version}; review the changes again",
                    }
                ]
            )
        plan = plan_upgrade(task=locked, template=template, overrides=parameters)
        if plan.errors:
            raise DefinitionInvalid(plan.errors)
        return task_update(task=locked, definition=plan.definition)



def template_load(*, document: Any) -> str:
    """Load a template shipped as a file, idempotently: ``"created"`` when the
    version is new, ``"unchanged"`` when that version is already stored with
    the same content, ``"conflict"`` when it is stored with other content
    (versions are immutable: the file needs a higher version)."""
    if isinstance(document, dict) and isinstance(document.get("id"), str):
        version = document.get("version", "1.0.0")
        stored = Template.objects.filter(template_id=document["id"], version=version).first()
        if stored is not None:
            checked, errors = check_template(document)
            if checked is None:
                raise DefinitionInvalid(errors)
            expected = {**copy.deepcopy(document), "id": checked.template_id, "version": str(checked.version)}
            return "unchanged" if stored.definition == expected else "conflict"
    template_create(document=document)
    return "created"
