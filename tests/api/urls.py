"""Only the core API and its schema: API tests do not depend on the pages
other apps are building."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/", include("orchestration.api.urls")),
]
