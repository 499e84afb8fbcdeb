"""REST API routes of this app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path

from resources import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("resources/", api.ResourcesRootAPI.as_view(), name="api-resources"),
    path("resources/workers/", api.WorkersAPI.as_view(), name="api-resources-workers"),
    path("resources/allocations/", api.AllocationsAPI.as_view(), name="api-resources-allocations"),
    path("resources/queue/", api.QueueAPI.as_view(), name="api-resources-queue"),
    path("resources/history/", api.HistoryAPI.as_view(), name="api-resources-history"),
    path("resources/analysis/", api.AnalysisAPI.as_view(), name="api-resources-analysis"),
    path("resources/preemptions/", api.PreemptionsAPI.as_view(), name="api-resources-preemptions"),
    path("resources/pool/", api.PoolAPI.as_view(), name="api-resources-pool"),
    path("resources/requirements/", api.RequirementsAPI.as_view(), name="api-resources-requirements"),
    path(
        "resources/executions/<int:execution_id>/",
        api.ExecutionResourcesAPI.as_view(),
        name="api-resources-execution",
    ),
]
