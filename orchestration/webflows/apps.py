from django.apps import AppConfig


class WebflowsConfig(AppConfig):
    name = "orchestration.webflows"
    label = "webflows"
    verbose_name = "Web workflows"
