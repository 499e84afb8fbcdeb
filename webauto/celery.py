"""The Celery application shared by web, worker and beat."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webauto.settings")

app = Celery("webauto")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
