from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring import kinds, receivers
        from orchestration import events, registry, signals

        registry.register(kinds.KIND)
        signals.task_definition_saved.connect(
            receivers.on_task_definition_saved, dispatch_uid="monitoring.channels_sync"
        )
        events.event_recorded.connect(receivers.on_event_recorded, dispatch_uid="monitoring.evaluate_event")
        signals.execution_finished.connect(receivers.on_execution_finished, dispatch_uid="monitoring.count_finished")
