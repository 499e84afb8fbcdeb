from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring import channels, kinds, receivers
        from orchestration import blocks, events, registry, signals

        registry.register(kinds.KIND)
        blocks.register_block(
            "notificationChannels", blocks.load_schema(channels.SCHEMA_PATH), channels.parse_channels
        )
        signals.task_definition_saved.connect(
            receivers.on_task_definition_saved, dispatch_uid="monitoring.channels_sync"
        )
        events.event_recorded.connect(receivers.on_event_recorded, dispatch_uid="monitoring.evaluate_event")
        signals.execution_finished.connect(receivers.on_execution_finished, dispatch_uid="monitoring.count_finished")
        from django.db.models.signals import post_delete, post_save

        from monitoring.models import Alert
        from orchestration.models import Task

        for model in (Alert, Task):
            for change, signal in (("saved", post_save), ("deleted", post_delete)):
                signal.connect(receivers.on_alert_rules_changed, sender=model,
                               dispatch_uid=f"monitoring.alert_rules.{model.__name__}.{change}")
