from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "orchestration.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"
