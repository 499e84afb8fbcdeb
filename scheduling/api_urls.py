"""REST API routes of this app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from scheduling import api

router = SimpleRouter()
router.register("schedules", api.ScheduleViewSet, basename="api-schedule")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
