"""Lint of the PCI pack: catalogue, control files, sources, and the errors they give."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.compliance import lint_catalogue, load_catalogue, load_controls, load_sources
from monitor.compliance.catalogue import IN_SCOPE_PREFIXES
from monitor.compliance.controls import default_controls_dir, load_control_file
from monitor.errors import RuleError
from monitor.resources import rules_dir

#: sub-requirements the reference map lists (shared/reference/compliance-and-git.md, A2)
REFERENCE_IDS = ["1.2.1", "1.2.2", "1.2.3", "1.2.4", "1.2.5", "1.2.6", "1.2.7", "1.2.8", "1.3.1", "1.3.2", "1.3.3", "1.4.1", "1.4.2", "1.4.3", "1.4.4", "1.4.5", "6.2.3.1", "6.5.1", "6.5.2", "6.5.3", "6.5.4", "6.5.5", "6.5.6", "8.2.1", "8.2.2", "8.2.4", "8.2.6", "8.2.8", "8.3.4", "8.3.6", "10.2.1", "10.2.1.1", "10.2.1.2", "10.2.1.3", "10.2.1.4", "10.2.1.5", "10.2.1.6", "10.2.1.7", "10.2.2", "10.3.1", "10.3.2", "10.3.3", "10.3.4", "10.4.1", "10.4.1.1", "10.4.2", "10.4.2.1", "10.4.3", "10.5.1", "10.6.1", "10.6.2", "10.6.3", "10.7.1", "10.7.2", "10.7.3", "11.5.1", "11.5.1.1", "11.5.2", "12.10.1", "12.10.2", "12.10.3", "12.10.5", "12.10.6", "12.10.7"]


@pytest.fixture(scope="module")
def pack():
    sources = load_sources()
    return load_catalogue(), load_controls(default_controls_dir(), sources), sources


def test_catalogue_and_controls_agree(pack) -> None:
    catalogue, controls, _ = pack
    assert lint_catalogue(catalogue, controls) == []


def test_every_reference_requirement_is_in_scope_and_listed(pack) -> None:
    catalogue, _, _ = pack
    assert set(REFERENCE_IDS) <= set(catalogue.ids)
    assert all(r.startswith(IN_SCOPE_PREFIXES) for r in catalogue.ids)
    families = {p.rstrip(".") for p in IN_SCOPE_PREFIXES}
    for family in families:
        assert any(r == family or r.startswith(family + ".") for r in catalogue.ids), family
    for requirement in catalogue.requirements:
        assert requirement.controls or requirement.manual, requirement.id


def test_control_ids_and_names_unique_and_counts(pack) -> None:
    _, controls, _ = pack
    ids = [c.id for c in controls]
    assert len(ids) == len(set(ids))
    assert len({c.name for c in controls}) == len(controls)
    automated = [c for c in controls if c.mode == "automated"]
    assert len(automated) >= 20
    catalogue_ids = {f"CHK-{n:02d}" for n in range(1, 31)}
    assert catalogue_ids <= set(ids), "every catalogue check is implemented or listed as manual"


def test_every_automated_control_has_positive_and_negative_fixtures(pack) -> None:
    _, controls, sources = pack
    for control in controls:
        if control.mode == "manual":
            assert not control.checks and control.evidence
            continue
        expects = {f.expect for f in control.fixtures}
        assert {"pass", "fail"} <= expects, control.id
        assert control.remediation and control.pass_criteria
        for name in control.data_sources:
            assert name in sources


def test_every_requirement_reachable_from_a_control_or_manual(pack) -> None:
    catalogue, controls, _ = pack
    covered = {r for c in controls for r in c.requirements}
    for requirement in catalogue.requirements:
        assert requirement.id in covered or requirement.manual, requirement.id


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


GOOD = """
id: CHK-90
name: Example control for tests
description: An example control used by the lint tests only.
requirements: ["1.2.2"]
data_sources: [firewall_traffic]
checks:
  - name: accepts of anything
    type: no_matches
    query: {term: {event.dataset: checkpoint.firewall}}
    violation: {terms: {destination.ip: $inventory.cde_networks}}
pass_criteria: zero of them
evidence: the accepts
remediation: stop it
fixtures:
  - {name: clean, expect: pass}
  - {name: dirty, expect: fail}
"""


def test_control_file_errors_name_file_control_and_field(tmp_path: Path) -> None:
    sources = load_sources()
    good = _write(tmp_path, "CHK-90.yaml", GOOD)
    assert load_control_file(good, sources).id == "CHK-90"
    bad = _write(tmp_path, "CHK-91.yaml", GOOD.replace("CHK-90", "CHK-91")
                 .replace("type: no_matches", "type: no_matches\n    frobnicate: 1"))
    with pytest.raises(RuleError) as err:
        load_control_file(bad, sources)
    line = 1 + next(i for i, text in enumerate(bad.read_text().splitlines())
                    if "frobnicate" in text)
    assert f"{bad}:{line}:5: CHK-91: checks.0.frobnicate: unknown key" in str(err.value)
    typo = _write(tmp_path, "CHK-92.yaml", GOOD.replace("CHK-90", "CHK-92")
                  .replace("$inventory.cde_networks", "$inventory.cde_netwroks"))
    with pytest.raises(RuleError, match=r"CHK-92: checks\[0\]\.violation\.terms\.destination\.ip: "
                                        r"unknown placeholder 'inventory\.cde_netwroks'"):
        load_control_file(typo, sources)
    source = _write(tmp_path, "CHK-93.yaml", GOOD.replace("CHK-90", "CHK-93")
                    .replace("[firewall_traffic]", "[netflow]"))
    with pytest.raises(RuleError, match="CHK-93: data_sources: unknown source 'netflow'"):
        load_control_file(source, sources)
    nofail = _write(tmp_path, "CHK-94.yaml", GOOD.replace("CHK-90", "CHK-94")
                    .replace("{name: dirty, expect: fail}", "{name: dirty, expect: pass}"))
    with pytest.raises(RuleError, match="CHK-94: .*failing"):
        load_control_file(nofail, sources)
    misnamed = _write(tmp_path, "CHK-99.yaml", GOOD)
    with pytest.raises(RuleError, match="file name must be CHK-90.yaml"):
        load_control_file(misnamed, sources)


def test_duplicate_keys_and_duplicate_ids_refused(tmp_path: Path) -> None:
    sources = load_sources()
    dup = _write(tmp_path, "CHK-90.yaml", GOOD.replace("name: Example control for tests",
                                                       "name: A\nname: B"))
    with pytest.raises(RuleError, match="duplicate key 'name'"):
        load_control_file(dup, sources)
    folder = tmp_path / "pack"
    folder.mkdir()
    _write(folder, "CHK-90.yaml", GOOD)
    (folder / "sources.yaml").write_text((rules_dir() / "pci" / "sources.yaml").read_text())
    _write(folder, "CHK-91.yaml", GOOD.replace("CHK-90", "CHK-91"))
    with pytest.raises(RuleError, match="name 'Example control for tests' used by more than one"):
        load_controls(folder, sources)


def test_catalogue_errors(tmp_path: Path) -> None:
    bad = _write(tmp_path, "requirements.yaml", """
        framework: pci-dss-4.0.1
        requirements:
          - {id: 1.2, title: a number, controls: [CHK-01]}
          - {id: "9.1.1", title: out of scope requirement, manual: x}
          - {id: "1.2.2", title: nothing covers it}
          - {id: "1.2.2", title: listed twice here, manual: y}
        """)
    with pytest.raises(RuleError) as err:
        load_catalogue(bad)
    text = str(err.value)
    assert "requirements[0]: id: quote it as a string" in text
    assert "requirement 9.1.1: id: outside the families in scope" in text
    assert "requirement 1.2.2: needs at least one control or a 'manual' evidence note" in text
    assert "requirement 1.2.2: id: listed twice" in text


def test_lint_reports_mismatched_mappings(pack) -> None:
    catalogue, controls, _ = pack
    from dataclasses import replace
    broken = replace(catalogue, requirements=tuple(
        replace(r, controls=tuple(c for c in r.controls if c != "CHK-14")) if r.id == "1.3.1" else r
        for r in catalogue.requirements))
    problems = lint_catalogue(broken, controls)
    assert any("CHK-14: requirements: 1.3.1 does not list CHK-14" in p for p in problems)
