"""Pages of this app (mounted by webauto/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from monitoring import event_views, outbox_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
    path("alerts/", views.alerts_page, name="alerts"),
    path("alerts/<int:pk>/<str:action>/", views.alert_action, name="alert-action"),
    path("channels/", views.channels_page, name="channels"),
    path("channels/<int:pk>/test/", views.channel_test, name="channel-test"),
    path("deliveries/<int:pk>/status/", views.delivery_status, name="delivery-status"),
    path("events/", event_views.events_page, name="events"),
    path("outbox/", outbox_views.outbox_page, name="outbox"),
    path("outbox/<str:file>/<int:index>/", outbox_views.outbox_detail, name="outbox-detail"),
    path("metrics", views.prometheus_metrics, name="prometheus-metrics"),
]
