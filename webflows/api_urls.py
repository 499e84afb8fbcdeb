"""REST API routes of this app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path

from webflows import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("workflows/", api.WorkflowListView.as_view(), name="api-workflow-list"),
    path("workflows/<slug:name>/", api.WorkflowDetailView.as_view(), name="api-workflow-detail"),
    path("browser-sessions/", api.BrowserSessionListView.as_view(), name="api-browser-session-list"),
    path("browser-sessions/<str:site>/", api.BrowserSessionDetailView.as_view(), name="api-browser-session-detail"),
    path("sandbox/", api.SandboxView.as_view(), name="api-sandbox"),
    path("sandbox/advance/", api.SandboxAdvanceView.as_view(), name="api-sandbox-advance"),
    path("sandbox/reset/", api.SandboxResetView.as_view(), name="api-sandbox-reset"),
]
