"""Operator pages for tasks and executions (mounted at the site root)."""

from django.urls import URLPattern, URLResolver, path

from orchestration.ui import builder_views, execution_views, secret_views, task_views

app_name = "ui"

urlpatterns: list[URLPattern | URLResolver] = [
    path("tasks/", task_views.task_list, name="task-list"),
    # Before tasks/<task_id>/ so that "new" is never read as a task id.
    path("tasks/new/", builder_views.builder_create, name="task-create"),
    path("tasks/builder/validate/", builder_views.builder_validate, name="builder-validate"),
    path("tasks/<str:task_id>/", task_views.task_detail, name="task-detail"),
    path("tasks/<str:task_id>/live/", task_views.task_live, name="task-live"),
    path("tasks/<str:task_id>/edit/", builder_views.builder_edit, name="task-edit"),
    path("tasks/<str:task_id>/export/", task_views.task_export, name="task-export"),
    path("tasks/<str:task_id>/toggle/", task_views.task_toggle, name="task-toggle"),
    path("tasks/<str:task_id>/run/", task_views.task_run, name="task-run"),
    path("tasks/<str:task_id>/delete/", task_views.task_delete, name="task-delete"),
    path("executions/", execution_views.execution_list, name="execution-list"),
    path("executions/<int:pk>/", execution_views.execution_detail, name="execution-detail"),
    path("executions/<int:pk>/live/", execution_views.execution_live, name="execution-live"),
    path("executions/<int:pk>/cancel/", execution_views.execution_cancel, name="execution-cancel"),
    path("executions/<int:pk>/rerun/", execution_views.execution_rerun, name="execution-rerun"),
    path("files/<path:path>", execution_views.media_file, name="media-file"),
    path("secrets/", secret_views.secret_list, name="secret-list"),
    path("secrets/<str:name>/delete/", secret_views.secret_delete, name="secret-delete"),
]
