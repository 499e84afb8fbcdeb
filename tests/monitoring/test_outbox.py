"""Email without a mail server (issue 14, point 2): the embedded default
writes email to a local outbox under var/ that the Outbox page reads, and a
channel's "Send test" says where the message went."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitoring.models import Channel, Delivery
from tests.monitoring.conftest import process_deliveries

ROOT = Path(__file__).resolve().parents[2]
FILE_BASED = "django.core.mail.backends.filebased.EmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def _settings_in_a_fresh_process(var_dir: Path, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    clean.update({"WEBAUTO_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "webauto.settings", **env})
    out = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings as s; print(s.EMAIL_BACKEND); print(s.EMAIL_FILE_PATH)"],
        cwd=ROOT, env=clean, capture_output=True, text=True, check=True,
    ).stdout
    return out.split()


def test_the_embedded_default_writes_email_to_an_outbox_under_var(tmp_path):
    assert _settings_in_a_fresh_process(tmp_path) == [FILE_BASED, str(tmp_path / "outbox")]


def test_setting_a_mail_server_switches_to_smtp(tmp_path):
    assert _settings_in_a_fresh_process(tmp_path, EMAIL_HOST="mail.example.com")[0] == SMTP


@pytest.fixture
def outbox(settings, tmp_path) -> Path:
    settings.EMAIL_BACKEND = FILE_BASED
    settings.EMAIL_FILE_PATH = tmp_path / "outbox"
    return tmp_path / "outbox"


@pytest.mark.django_db
def test_send_test_says_the_email_went_to_the_outbox_and_the_outbox_page_shows_it(client, admin_user, outbox):
    channel = Channel.objects.create(name="ops mail", kind="email", config={"recipients": ["ops@example.com"]})
    client.force_login(admin_user)
    queued = client.post(f"/channels/{channel.pk}/test/")
    assert queued.status_code == 200
    assert "written to the local outbox" in queued.content.decode()

    process_deliveries()
    delivery = Delivery.objects.get(channel=channel)
    status = client.get(f"/deliveries/{delivery.pk}/status/").content.decode()
    assert f"Sent: written to the local outbox ({outbox})" in status
    assert 'href="/outbox/"' in status

    page = client.get("/outbox/").content.decode()
    assert "Test notification for ops mail" in page and "ops@example.com" in page
    [written] = [p.name for p in outbox.iterdir()]
    detail = client.get(f"/outbox/{written}/0/").content.decode()
    assert "If you can read it, the channel works." in detail
    assert f"#{delivery.pk}" in detail


@pytest.mark.django_db
def test_send_test_on_smtp_names_the_mail_server(client, admin_user, settings):
    settings.EMAIL_BACKEND = SMTP
    settings.EMAIL_HOST, settings.EMAIL_PORT = "mail.example.com", 587
    channel = Channel.objects.create(name="smtp mail", kind="email", config={"recipients": ["ops@example.com"]})
    client.force_login(admin_user)
    body = client.post(f"/channels/{channel.pk}/test/").content.decode()
    assert "handed to the SMTP server mail.example.com:587" in body


@pytest.mark.django_db
def test_an_unknown_outbox_message_is_not_found(client, admin_user, outbox):
    client.force_login(admin_user)
    assert client.get("/outbox/").status_code == 200  # the folder does not exist yet
    assert client.get("/outbox/nothing.log/0/").status_code == 404
    assert client.get("/outbox/..%2Fsecret_key/0/").status_code == 404
