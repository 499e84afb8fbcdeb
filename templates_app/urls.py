"""Pages of this app (mounted by webauto/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from templates_app import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("templates/", views.gallery, name="templates-gallery"),
    # Before templates/<id>/; "new" is a reserved template id for this reason.
    path("templates/new/", views.create, name="template-create"),
    path("templates/<slug:template_id>/", views.detail, name="template-detail"),
    path("templates/<slug:template_id>/versions/<str:version>/", views.detail, name="template-version"),
    path("templates/<slug:template_id>/diff/", views.diff, name="template-diff"),
    path("templates/<slug:template_id>/use/", views.use, name="template-use"),
    path("templates/<slug:template_id>/new-version/", views.new_version, name="template-new-version"),
    path("templates/<slug:template_id>/upgrade/<str:task_id>/", views.upgrade, name="template-upgrade"),
]
