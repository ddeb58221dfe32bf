"""Errors that come from a file say where: ``file:line:column`` of the offending field."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor.compliance.controls import load_control_file
from monitor.detect.loader import load_rules
from monitor.errors import (
    MonitorError,
    RuleError,
    RuleValidationError,
    SigmaUnavailable,
    YamlError,
)
from monitor.findings.exceptions import load_exceptions
from monitor.inventory import load_inventory
from monitor.yamlio import load_yaml, locate

RULE = """\
id: 00000000-0000-4000-8000-0000000000b1
name: placed rule
description: a rule made by a test
version: 1
status: test
severity: huge
risk_score: 40
threat: [{tactic: TA0006}]
pci_dss_v4_0_1: ["8.3.4"]
note: "## Triage\\nlook"
type: match
query: "a:b"
"""


def test_every_error_is_in_the_tree() -> None:
    assert issubclass(YamlError, MonitorError) and issubclass(YamlError, ValueError)
    assert issubclass(SigmaUnavailable, MonitorError)


def test_locate_finds_nested_keys_and_list_items(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("top:\n  inner:\n    - x\n    - y: 1\n")
    assert locate(path, ["top", "inner", 1, "y"]) == (4, 10)
    assert locate(path, ["top", "missing"]) == (2, 3)  # the mapping that lacks it


def test_yaml_error_has_its_place(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(YamlError) as caught:
        load_yaml(path)
    assert (caught.value.file, caught.value.line) == (str(path), 2)
    assert str(caught.value).startswith(f"{path}:2:")


def test_rule_issue_names_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULE)
    with pytest.raises(RuleValidationError) as caught:
        load_rules([tmp_path])
    [issue] = [i for i in caught.value.issues if i.field == "severity"]
    assert (issue.line, issue.column) == (6, 11)
    assert str(issue).startswith(f"{tmp_path / 'r.yaml'}:6:11 ")


def test_exception_issue_is_placed_inside_the_list(tmp_path: Path) -> None:
    path = tmp_path / "exceptions.yaml"
    path.write_text(yaml.safe_dump({"exceptions": [{"id": "E1", "bogus": 1}]}, sort_keys=False))
    with pytest.raises(RuleValidationError) as caught:
        load_exceptions(path)
    placed = [i for i in caught.value.issues if i.line is not None]
    assert placed and all(i.field.startswith("exceptions.0") for i in placed)


def test_control_and_inventory_lines_start_with_the_place(tmp_path: Path) -> None:
    control = tmp_path / "CHK-99.yaml"
    control.write_text("id: CHK-99\nname: x\nbogus_key: 1\n")
    with pytest.raises(RuleError) as caught:
        load_control_file(control)
    assert f"{control}:3:" in str(caught.value)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("gateways: 7\n")
    with pytest.raises(RuleError) as caught:
        load_inventory(inventory)
    assert f"{inventory}:1:" in str(caught.value)


def test_config_issue_names_line_and_column(tmp_path: Path) -> None:
    from monitor.errors import ConfigError
    from monitor.settings import load_settings

    path = tmp_path / "config.yaml"
    path.write_text("elasticsearch:\n  number_of_shards: -3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    [issue] = caught.value.issues
    assert (issue.line, issue.column) == (2, 21)
    assert str(caught.value).startswith(f"{path}:2:21: elasticsearch.number_of_shards")
