"""The Redis broker transport, made to survive a broker restart.

kombu's Redis transport restores the messages a worker holds unacknowledged
when it closes a channel. When the connection is already gone (the broker
restarted), that restore fails with an ``AttributeError`` (kombu 5.7 looks up
the closed transport's client), which Celery treats as unrecoverable: the
worker exits. Here the restore gives up instead: Redis keeps those messages in
its unacknowledged set (restored after the visibility timeout), and the
engine's sweep re-sends any queued node nobody claimed long before that (the
database, not the broker, decides what runs).

The same lookup fails when a task that was delivered before the connection
dropped is acknowledged (or rejected) afterwards: a node that ran across the
broker's restart would stop the worker when it ends. Such an acknowledgement
only drops the delivery from this process's bookkeeping: a broker that
restarted without persistence has forgotten the message anyway, and one that
kept it redelivers it after the visibility timeout, when the engine drops it
as a stale dispatch (its node already ran under that dispatch id).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis, virtual

log = logging.getLogger(__name__)


class QoS(redis.QoS):  # type: ignore[misc]
    def restore_unacked(self, client: Any = None) -> None:
        try:
            super().restore_unacked(client)
        except Exception as exc:  # AttributeError, or the redis client's connection errors
            log.warning("unacknowledged messages not restored now (%r); the broker restores them later", exc)


    def _channel_closed(self) -> bool:
        return bool(getattr(self.channel, "closed", False)) or self.channel.connection is None

    def ack(self, delivery_tag: Any) -> None:
        if self._channel_closed():
            log.warning("delivery %s acknowledged after its broker connection closed: left to the broker's "
                        "visibility timeout", delivery_tag)
            virtual.QoS.ack(self, delivery_tag)
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        if self._channel_closed():
            log.warning("delivery %s rejected after its broker connection closed: left to the broker's "
                        "visibility timeout", delivery_tag)
            virtual.QoS.ack(self, delivery_tag)
            return
        super().reject(delivery_tag, requeue=requeue)


class Channel(redis.Channel):  # type: ignore[misc]
    QoS = QoS


class Transport(redis.Transport):  # type: ignore[misc]
    Channel = Channel
