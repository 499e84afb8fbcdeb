"""Root URL configuration. Each app owns its paths in its own ``urls.py``
(pages) and ``api_urls.py`` (REST API under /api/v1/)."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from orchestration.access.permissions import RolePermission

api_v1 = [
    path("", include("orchestration.api.urls")),
    path("", include("webflows.api_urls")),
    path("", include("scheduling.api_urls")),
    path("", include("resources.api_urls")),
    path("", include("templates_app.api_urls")),
    path("", include("monitoring.api_urls")),
]

urlpatterns = [
    # Pages that name no icon (the admin, the API docs) make browsers ask for this.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # The OpenAPI document and its docs page need the viewer role, like every
    # read of the API (the definition schemas under /api/v1/schemas/ stay public).
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[RolePermission]), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[RolePermission]),
        name="api-docs",
    ),
    path("api/v1/", include(api_v1)),
    path("", include("orchestration.ui.urls")),
    path("", include("webflows.urls")),
    path("", include("scheduling.urls")),
    path("", include("resources.urls")),
    path("", include("templates_app.urls")),
    path("", include("monitoring.urls")),
]

# Under /api/ errors outside the API views (no route, a crash) are JSON too.
handler400 = "orchestration.api.errors.bad_request"
handler404 = "orchestration.api.errors.page_not_found"
handler500 = "orchestration.api.errors.server_error"
