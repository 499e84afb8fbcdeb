"""Routes of the core REST API (mounted under /api/v1/)."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from orchestration.api import views
from orchestration.api.contract_views import DefinitionSchemaView

router = SimpleRouter()
router.register("tasks", views.TaskViewSet, basename="api-task")
router.register("executions", views.ExecutionViewSet, basename="api-execution")
router.register("secrets", views.SecretViewSet, basename="api-secret")

urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path("schemas/<str:name>.json", DefinitionSchemaView.as_view(), name="api-definition-schema"),
]
