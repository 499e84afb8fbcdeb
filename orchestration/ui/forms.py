"""Filter forms of the list pages (GET forms; an invalid value just filters nothing)."""

from __future__ import annotations

from typing import Any

from django import forms

from orchestration.models import ExecutionStatus, Trigger
from orchestration.ui import selectors


class TaskFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    # The list shows the fields without their <label>s: aria-label names them.
    category = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "Category"}))
    tag = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "Tag"}))
    status = forms.ChoiceField(required=False, label="Last run", widget=forms.Select(attrs={"aria-label": "Last run"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("category", [("", "All categories")] + [(c, c) for c in selectors.task_categories()])
        self._choices("tag", [("", "All tags")] + [(t, t) for t in selectors.task_tags()])
        self._choices("status", [
            ("", "Any last run"),
            *ExecutionStatus.choices,
            (selectors.NEVER_RUN, "Never run"),
        ])

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {}
        return {key: value for key, value in self.cleaned_data.items() if value}


class ExecutionFilterForm(forms.Form):
    task = forms.CharField(required=False, label="Task")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *ExecutionStatus.choices],
                               widget=forms.Select(attrs={"aria-label": "Status"}))
    trigger = forms.ChoiceField(required=False, choices=[("", "Any trigger"), *Trigger.choices],
                                widget=forms.Select(attrs={"aria-label": "Trigger"}))

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {}
        return {key: value for key, value in self.cleaned_data.items() if value}
