"""Which role each API operation needs: the one table of the authorization model.

Keys are view classes (``module.ClassName``); values map a viewset action
(``create``, ``cancel``...) or, for a plain ``APIView``, an HTTP method in
lower case (``post``, ``patch``...) to the lowest role allowed to call it.
Reading (``GET``, ``HEAD``, ``OPTIONS``) needs the viewer role unless the
table says more. A write that is not in the table is refused to everyone,
superusers included: a new endpoint must be given a role here (the role
matrix test walks the OpenAPI document and fails on a write without one).
"""

from __future__ import annotations

from orchestration.access.roles import Role

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

VIEWER, OPERATOR, EDITOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.EDITOR, Role.ADMIN

API_POLICY: dict[str, dict[str, Role]] = {
    "orchestration.api.views.TaskViewSet": {
        "create": EDITOR,
        "update": EDITOR,
        "partial_update": EDITOR,
        "destroy": EDITOR,
        # Checking a definition is part of writing one (and evaluates expressions).
        "validate": EDITOR,
        "execute": OPERATOR,
    },
    "orchestration.api.views.ExecutionViewSet": {"cancel": OPERATOR, "rerun": OPERATOR},
    "orchestration.api.views.SecretViewSet": {
        "create": ADMIN,
        "update": ADMIN,
        "partial_update": ADMIN,
        "destroy": ADMIN,
    },
    "scheduling.api.ScheduleViewSet": {
        "create": EDITOR,
        "update": EDITOR,
        "partial_update": EDITOR,
        "destroy": EDITOR,
        "rotate_token": EDITOR,
        "pause": OPERATOR,
        "resume": OPERATOR,
        "trigger": OPERATOR,
        # An external event may start the tasks of event schedules.
        "events": OPERATOR,
    },
    "monitoring.api.EventList": {"post": OPERATOR},
    "monitoring.api.AlertViewSet": {"ack": OPERATOR, "resolve": OPERATOR},
    "monitoring.api.ChannelViewSet": {
        "create": ADMIN,
        "update": ADMIN,
        "partial_update": ADMIN,
        "destroy": ADMIN,
        "test": ADMIN,
    },
    "templates_app.api.TemplateListCreateAPI": {"post": EDITOR},
    "templates_app.api.TemplateDetailAPI": {"put": EDITOR},
    "templates_app.api.TemplateInstantiateAPI": {"post": EDITOR},
    "templates_app.api.TemplateUpgradeTaskAPI": {"post": EDITOR},
    "webflows.api.WorkflowListView": {"post": EDITOR},
    "webflows.api.WorkflowDetailView": {"put": EDITOR, "patch": EDITOR, "delete": EDITOR},
    # Stored cookies are credentials: like secrets, only admins manage them.
    "webflows.api.BrowserSessionListView": {"post": ADMIN},
    "webflows.api.BrowserSessionDetailView": {"delete": ADMIN},
    "webflows.api.SandboxAdvanceView": {"post": OPERATOR},
    "webflows.api.SandboxResetView": {"post": OPERATOR},
    "resources.api.PoolAPI": {"patch": ADMIN},
    # Checks a resourceRequirements block (part of writing a definition).
    "resources.api.RequirementsAPI": {"post": EDITOR},
}


def view_key(view_class: type) -> str:
    """``module.ClassName`` of a view class, the key of :data:`API_POLICY`."""
    return f"{view_class.__module__}.{view_class.__qualname__}"


def required_role(view_class: type, *, action: str | None, method: str) -> Role | None:
    """The lowest role allowed to call ``method`` (``"POST"``) on ``view_class``
    for viewset ``action`` (None for a plain APIView). None means nobody may:
    a write the table does not know."""
    rules = API_POLICY.get(view_key(view_class), {})
    for key in (action, method.lower()):
        if key and key in rules:
            return rules[key]
    if method.upper() in SAFE_METHODS:
        return VIEWER
    return None
