"""Domain errors of the orchestrator. Services raise them; the API and the
pages translate them (``orchestration.api.errors`` maps them to JSON)."""

from __future__ import annotations


class DefinitionInvalid(Exception):
    """A definition (task, template, step workflow, schedule block) has
    problems; ``errors`` carries all of them as ``[{"path", "message"}]``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))
        self.errors = errors


class SecretsMissing(Exception):
    """A run cannot start: its definition references secrets that are not in
    the secrets store. ``names`` lists them (sorted); ``errors`` has the API's
    ``[{"path", "message"}]`` shape. Saving such a definition is allowed (with
    a warning), so the secret can be added afterwards."""

    def __init__(self, task_id: str, names: list[str]) -> None:
        self.names = sorted(names)
        listed = ", ".join(self.names)
        message = (
            f"task {task_id!r} references secret{'s' if len(self.names) > 1 else ''} "
            f"that do{'es' if len(self.names) == 1 else ''} not exist: {listed}; "
            "add them on the Secrets page (or POST /api/v1/secrets/) before running it"
        )
        super().__init__(message)
        self.errors = [{"path": "secrets", "message": message}]
