"""REST API routes of this app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path

from templates_app import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("templates/", api.TemplateListCreateAPI.as_view(), name="api-templates"),
    path("templates/<slug:template_id>/", api.TemplateDetailAPI.as_view(), name="api-template"),
    path(
        "templates/<slug:template_id>/versions/",
        api.TemplateVersionsAPI.as_view(),
        name="api-template-versions",
    ),
    path(
        "templates/<slug:template_id>/versions/<str:version>/",
        api.TemplateVersionAPI.as_view(),
        name="api-template-version",
    ),
    path("templates/<slug:template_id>/diff/", api.TemplateDiffAPI.as_view(), name="api-template-diff"),
    path(
        "templates/<slug:template_id>/instantiate/",
        api.TemplateInstantiateAPI.as_view(),
        name="api-template-instantiate",
    ),
    path(
        "templates/<slug:template_id>/upgrade-task/",
        api.TemplateUpgradeTaskAPI.as_view(),
        name="api-template-upgrade-task",
    ),
]
