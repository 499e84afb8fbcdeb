from __future__ import annotations

from templates_app.substitution import extract_parameters, substitute

NODES = [
    {"id": "monitoring", "workflow": "w", "config": {"targetUrl": "${targetUrl}", "note": "watch ${targetUrl} now"}},
    {
        "id": "download",
        "workflow": "w",
        "dependsOn": ["monitoring"],
        "condition": {"type": "expression", "expression": "${monitoring.hasChanges == true}"},
        "config": {
            "maxPosts": "${maxPosts}",
            "limits": ["${maxPosts}", "${quality}"],
            "source": "${monitoring.posts}",
            "token": "Bearer ${apiToken}",
            "opts": "${opts.depth}",
        },
    },
]


def test_it_extracts_undeclared_names_but_not_nodes_expressions_or_secrets():
    found = extract_parameters(NODES, declared={"targetUrl", "maxPosts"}, secrets={"apiToken"})
    assert found == [
        {
            "name": "quality",
            "type": "string",
            "required": True,
            "description": "Parameter found in workflows[1].config.limits[1]",
            "extracted": True,
        },
        {
            "name": "opts",
            "type": "string",
            "required": True,
            "description": "Parameter found in workflows[1].config.opts",
            "extracted": True,
        },
    ]


def test_whole_references_keep_their_type_and_text_is_interpolated():
    out, errors = substitute(
        NODES,
        values={"targetUrl": "https://a", "maxPosts": 100, "quality": "hd", "opts": {"depth": 2}},
        parameter_names={"targetUrl", "maxPosts", "quality", "opts"},
    )
    assert errors == []
    assert out[0]["config"] == {"targetUrl": "https://a", "note": "watch https://a now"}
    config = out[1]["config"]
    assert config["maxPosts"] == 100 and isinstance(config["maxPosts"], int)
    assert config["limits"] == [100, "hd"]
    assert config["opts"] == 2


def test_run_time_references_and_expression_conditions_are_kept():
    out, _ = substitute(NODES, values={"maxPosts": 1}, parameter_names={"maxPosts"})
    assert out[1]["condition"] == {"type": "expression", "expression": "${monitoring.hasChanges == true}"}
    assert out[1]["config"]["source"] == "${monitoring.posts}"
    assert out[1]["config"]["token"] == "Bearer ${apiToken}"


def test_an_expression_naming_a_parameter_is_left_for_run_time():
    nodes = [{"id": "a", "workflow": "w", "condition": {"type": "expression", "expression": "${maxPosts}"}}]
    out, _ = substitute(nodes, values={"maxPosts": 3}, parameter_names={"maxPosts"})
    assert out[0]["condition"]["expression"] == "${maxPosts}"


def test_an_optional_parameter_without_value_removes_its_config_entry():
    nodes = [{"id": "a", "workflow": "w", "config": {"x": "${opt}", "y": "v=${opt}", "z": ["${opt}", 1]}}]
    out, errors = substitute(nodes, values={}, parameter_names={"opt"})
    assert errors == []
    assert out[0]["config"] == {"y": "v=", "z": [1]}


def test_substitution_does_not_change_the_template():
    nodes = [{"id": "a", "workflow": "w", "config": {"x": "${obj}"}}]
    value = {"k": [1]}
    out, _ = substitute(nodes, values={"obj": value}, parameter_names={"obj"})
    out[0]["config"]["x"]["k"].append(2)
    assert value == {"k": [1]} and nodes[0]["config"]["x"] == "${obj}"


def test_a_path_into_a_missing_key_is_an_error_with_its_location():
    nodes = [{"id": "a", "workflow": "w", "config": {"x": "${obj.nope}"}}]
    _, errors = substitute(nodes, values={"obj": {"k": 1}}, parameter_names={"obj"})
    assert errors[0]["path"] == "workflows[0].config.x"
    assert "nope" in errors[0]["message"]
