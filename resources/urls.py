"""Pages of this app (mounted by webauto/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from resources import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("resources/", views.resources_page, name="resources"),
]
