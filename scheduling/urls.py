"""Pages of this app (mounted by webauto/urls.py) and the public webhook URL."""

from django.urls import URLPattern, URLResolver, path, re_path

from scheduling import views

app_name = "scheduling"

urlpatterns: list[URLPattern | URLResolver] = [
    path("schedules/", views.schedule_list, name="schedule-list"),
    path("schedules/new/", views.schedule_create, name="schedule-create"),
    path("schedules/preview/", views.schedule_preview, name="schedule-preview"),
    path("schedules/<int:pk>/", views.schedule_detail, name="schedule-detail"),
    path("schedules/<int:pk>/edit/", views.schedule_edit, name="schedule-edit"),
    path("schedules/<int:pk>/toggle/", views.schedule_toggle, name="schedule-toggle"),
    re_path(
        r"^schedules/(?P<pk>[0-9]+)/(?P<action>pause|resume|run|rotate|delete)/$",
        views.schedule_action,
        name="schedule-action",
    ),
    path("hooks/<str:token>/", views.webhook, name="webhook"),
]
