"""Every kind listed (issue 14, point 10): the Workflows page lists every
registered workflow kind, echo and delay included, with its config schema and
an example node whose config the schema accepts."""

from __future__ import annotations

import html
import json
import re

import pytest
from jsonschema.validators import validator_for

from orchestration import registry


def test_every_shipped_kind_has_an_example_its_schema_accepts():
    kinds = registry.all_kinds()
    assert {"echo", "delay", "notification", "page-monitor"} <= {k.name for k in kinds}
    for kind in kinds:
        if kind.example is None:
            continue
        validator = validator_for(kind.config_schema)(kind.config_schema)
        assert list(validator.iter_errors(kind.example)) == [], kind.name
    shipped = [k for k in kinds if k.run.__module__.split(".")[0] in ("orchestration", "webflows", "monitoring")]
    assert [k.name for k in shipped if k.example is None] == []


@pytest.mark.django_db
def test_the_workflows_page_lists_every_registered_kind_with_schema_and_example(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/workflows/").content.decode()
    for kind in registry.all_kinds():
        card = re.search(rf'<article class="wf-card" id="kind-{re.escape(kind.name)}">(.*?)</article>', page, re.S)
        assert card, kind.name
        example = re.search(r'<pre class="wf-json wf-example">(.*?)</pre>', card.group(1), re.S)
        schema = re.search(r'<pre class="wf-json wf-schema">(.*?)</pre>', card.group(1), re.S)
        assert example and schema, kind.name
        node = json.loads(html.unescape(example.group(1)))
        assert node["workflow"] == kind.name
        assert node["config"] == (kind.example if kind.example is not None
                                  else {r: f"<{r}>" for r in kind.config_schema.get("required", [])})
        assert json.loads(html.unescape(schema.group(1))) == kind.config_schema
