from django.apps import AppConfig


class WebflowsConfig(AppConfig):
    name = "webflows"
    label = "webflows"
    verbose_name = "Web workflows"

    def ready(self) -> None:
        from orchestration import registry
        from webflows.kinds import builtin_kinds
        from webflows.provider import stored_step_workflow_kind, stored_step_workflow_names

        for kind in builtin_kinds():
            registry.register(kind)
        registry.add_provider(stored_step_workflow_kind, names=stored_step_workflow_names)
