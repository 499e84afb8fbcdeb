"""The Celery application shared by web, worker and beat."""

from __future__ import annotations

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webauto.settings")
# redis:// and rediss:// URLs use our transport, which survives a broker restart
# (see webauto/broker.py).
TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = "webauto.broker:Transport"

app = Celery("webauto")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
