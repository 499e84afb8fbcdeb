from django.apps import AppConfig


class TemplatesAppConfig(AppConfig):
    name = "templates_app"
    label = "templates_app"
    verbose_name = "Templates"
