"""Signals other apps hook into, sent *inside* the transaction that made the
change, so that what a receiver writes commits or rolls back with it."""

from django.dispatch import Signal

# Sent after a task definition was created or updated (kwargs: task, created,
# definition). Receivers keep derived rows in step (schedules, channels) and may
# raise orchestration.errors.DefinitionInvalid to reject the definition.
task_definition_saved = Signal()

# Sent before a task is deleted (kwargs: task).
task_deleting = Signal()

# Sent inside the transaction that moved an execution to its final status
# (kwargs: execution). Receivers count it (monitoring's Prometheus counters),
# so the count commits or rolls back with the status change itself.
execution_finished = Signal()
