"""The Redis broker transport, made to survive a broker restart.

kombu's Redis transport restores the messages a worker holds unacknowledged
when it closes a channel. When the connection is already gone (the broker
restarted), that restore fails with an ``AttributeError`` (kombu 5.7 looks up
the closed transport's client), which Celery treats as unrecoverable: the
worker exits. Here the restore gives up instead: Redis keeps those messages in
its unacknowledged set (restored after the visibility timeout), and the
engine's sweep re-sends any queued node nobody claimed long before that (the
database, not the broker, decides what runs).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis

log = logging.getLogger(__name__)


class QoS(redis.QoS):  # type: ignore[misc]
    def restore_unacked(self, client: Any = None) -> None:
        try:
            super().restore_unacked(client)
        except Exception as exc:  # AttributeError, or the redis client's connection errors
            log.warning("unacknowledged messages not restored now (%r); the broker restores them later", exc)


class Channel(redis.Channel):  # type: ignore[misc]
    QoS = QoS


class Transport(redis.Transport):  # type: ignore[misc]
    Channel = Channel
