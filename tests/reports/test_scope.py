"""The report's provenance names the gateways in scope from the inventory (a configured
inventory used to show "none configured", because only Check Point API sources were read)."""
from __future__ import annotations

from pathlib import Path

from monitor.reports.job import build_inputs
from monitor.settings import settings_from_dict

ROOT = Path(__file__).resolve().parents[2]


def test_scope_gateways_come_from_the_inventory(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text((ROOT / "rules" / "inventory.example.yaml").read_text()
                         .replace("gw-edge-1", "fw-branch-7"))
    settings = settings_from_dict({"rules": {"inventory_file": "inventory.yaml"}},
                                  base_dir=tmp_path)
    inputs = build_inputs(settings)
    assert inputs.scope_gateways == ("fw-branch-7", "gw-cde-1")  # not the management server


def test_unreadable_inventory_is_a_note_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text("gateways: [{name: x, ip: not-an-ip}]\n")
    settings = settings_from_dict({"rules": {"inventory_file": "inventory.yaml"}},
                                  base_dir=tmp_path)
    inputs = build_inputs(settings)
    assert inputs.scope_gateways == ()
    assert any("gateways in scope unknown" in note for note in inputs.notes)
