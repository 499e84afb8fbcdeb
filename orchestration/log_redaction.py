"""Known secret values never reach a log: a logging filter on the process's
handlers redacts, in every record produced while a node runs, the secrets
that node resolved (in every form of ``references.secret_pattern``: raw,
percent-encoded character by character, JSON-escaped). Libraries log too: httpx writes the full
request URL at INFO, query string and all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from orchestration.references import redact

_lock = threading.Lock()
# The secret sets of the nodes running in this process (one per node run;
# the sets fill up while the node resolves its config).
_active: list[set[str]] = []


class SecretRedactingFilter(logging.Filter):
    """Replaces secrets in a record's message (and its formatted traceback) with ``********``."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _lock:
            secrets = {s for group in _active for s in group}
        if not secrets:
            return True
        message = record.getMessage()
        redacted = redact(message, secrets)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


_filter = SecretRedactingFilter()


def install() -> None:
    """Put the filter on every handler of the root logger (records of every
    logger that propagates pass through them); idempotent, and cheap enough
    to call at each node start so handlers added since are covered too."""
    for handler in logging.getLogger().handlers:
        if _filter not in handler.filters:
            handler.addFilter(_filter)


@contextmanager
def redacting(secrets: set[str]) -> Iterator[None]:
    """Redact ``secrets`` (a live set: values added inside the block count) from log records made inside the block."""
    install()
    with _lock:
        _active.append(secrets)
    try:
        yield
    finally:
        with _lock:
            _active.remove(secrets)
