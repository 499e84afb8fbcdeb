"""Messages for people (issue 14, point 9): a value in the wrong form is
described by the parameter's format or description, never by its regex; the
secret-name input says its format."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from templates_app.parameters import check_declarations, validate_values

EMAIL = {"name": "recipient", "type": "string", "required": True, "pattern": r"^[^@\s]+@[^@\s]+$", "format": "email"}


def test_a_format_names_what_the_value_must_be():
    _, errors = validate_values([EMAIL], {"recipient": "nobody"})
    assert errors == [{"path": "parameters.recipient", "message": 'must be an email address (got "nobody")'}]
    url = {"name": "url", "type": "string", "format": "uri", "pattern": "^https?://"}
    _, errors = validate_values([url], {"url": "ftp://x"})
    assert errors == [{"path": "parameters.url",
                       "message": 'must be a web address starting with http:// or https:// (got "ftp://x")'}]


def test_without_a_format_the_description_is_used():
    code = {"name": "code", "type": "string", "pattern": "^[A-Z]{3}$", "description": "Three capital letters, e.g. EUR"}
    _, errors = validate_values([code], {"code": "eu"})
    assert errors[0]["message"] == 'is not in the expected form: three capital letters, e.g. EUR (got "eu")'


def test_an_unknown_format_is_rejected_in_the_declaration():
    errors = check_declarations([{"name": "x", "type": "string", "format": "postcode"}])
    assert errors and errors[0]["path"] == "parameters[0].format"
    assert errors[0]["message"].startswith("must be one of email, uri")


@pytest.mark.django_db
def test_the_shipped_templates_speak_of_email_addresses_not_regexes(client, admin_user):
    call_command("load_templates", verbosity=0)
    client.force_login(admin_user)
    page = client.post("/templates/website-change-monitor-template/use/", {
        "param-url": "https://example.com/", "param-recipient": "nobody", "param-mode": "http",
        "param-changeThreshold": "0.05", "priority": "normal",
    }).content.decode()
    assert 'must be an email address (got &quot;nobody&quot;)' in page
    assert "must match the pattern" not in page
    assert 'type="email"' in page and 'title="Must be an email address"' in page


@pytest.mark.django_db
def test_the_secret_name_input_states_its_format(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/secrets/").content.decode()
    assert 'title="Starts with a letter or _, then letters, digits, - or _' in page
    assert 'aria-describedby="secret-name-help"' in page and 'id="secret-name-help"' in page
