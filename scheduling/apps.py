from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from orchestration import blocks
        from orchestration.events import event_recorded
        from orchestration.models import Event, Task
        from orchestration.signals import task_definition_saved, task_deleting
        from orchestration.ui import hooks
        from scheduling import presenters, receivers, selectors, spec

        task_definition_saved.connect(receivers.on_task_definition_saved, sender=Task, dispatch_uid="scheduling-definition")
        task_deleting.connect(receivers.on_task_deleting, sender=Task, dispatch_uid="scheduling-task-deleting")
        event_recorded.connect(receivers.on_event_recorded, sender=Event, dispatch_uid="scheduling-events")
        from django.db.models.signals import post_delete, post_save

        from scheduling.models import Schedule

        post_save.connect(receivers.on_schedule_saved, sender=Schedule, dispatch_uid="scheduling-subscribers-saved")
        post_delete.connect(receivers.on_schedule_deleted, sender=Schedule, dispatch_uid="scheduling-subscribers-deleted")
        hooks.register_next_runs(selectors.next_runs)
        hooks.register_task_schedules(presenters.task_schedules)
        blocks.register_block("schedule", spec.SCHEMA, spec.parse_block)
