from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    name = "resources"
    label = "resources"
    verbose_name = "Resources"

    def ready(self) -> None:
        # Connects the heartbeat to Celery's worker_ready/worker_shutdown
        # signals; in web processes the signals never fire.
        from pathlib import Path

        from orchestration import blocks
        from resources import requirements, worker  # noqa: F401

        blocks.register_block(
            "resourceRequirements",
            blocks.load_schema(Path(__file__).resolve().parent / "resource-requirements.schema.json"),
            requirements.parse_block,
        )
