"""Query-string filters of the core API (documented in the OpenAPI schema)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from orchestration import selectors
from orchestration.models import Execution, ExecutionStatus, Task


class TaskFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(help_text="Exact category.")
    tag = django_filters.CharFilter(method="filter_tag", help_text="Tasks carrying this tag.")
    enabled = django_filters.BooleanFilter()
    search = django_filters.CharFilter(
        method="filter_search", help_text="Text in the taskId, name or description."
    )

    class Meta:
        model = Task
        fields = ["category", "tag", "enabled", "search"]

    def filter_tag(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return selectors.tasks_with_tag(queryset, value)

    def filter_search(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return selectors.tasks_matching(queryset, value)


class StatusInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    pass


class ExecutionFilter(django_filters.FilterSet):
    task = django_filters.CharFilter(field_name="task__task_id", help_text="taskId of the task.")
    status = StatusInFilter(
        choices=ExecutionStatus.choices,
        help_text="One status or several separated by commas (failed,timed_out).",
    )

    class Meta:
        model = Execution
        fields = ["task", "status"]
