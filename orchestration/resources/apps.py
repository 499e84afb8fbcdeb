from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    name = "orchestration.resources"
    label = "resources"
    verbose_name = "Resources"
