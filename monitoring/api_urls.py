"""REST API routes of this app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from monitoring import api

router = SimpleRouter()
router.register("alerts", api.AlertViewSet, basename="alert")
router.register("channels", api.ChannelViewSet, basename="channel")
router.register("deliveries", api.DeliveryViewSet, basename="delivery")

urlpatterns: list[URLPattern | URLResolver] = [
    path("events/", api.EventList.as_view(), name="event-list"),
    path("metrics/summary/", api.MetricsSummary.as_view(), name="metrics-summary"),
    path("metrics/series/", api.MetricsSeries.as_view(), name="metrics-series"),
    path("metrics/executions/<int:execution_id>/", api.ExecutionMetrics.as_view(), name="metrics-execution"),
    *router.urls,
]
