from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    name = "orchestration.resources"
    label = "resources"
    verbose_name = "Resources"

    def ready(self) -> None:
        # Connects the heartbeat to Celery's worker_ready/worker_shutdown
        # signals; in web processes the signals never fire.
        from orchestration.resources import worker  # noqa: F401
