"""Pack lint, in the style of Elastic's detection-rules test_all_rules.py: one class per concern,
failures gathered and reported once with every offending rule."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from monitor.detect.lint import attack_data, lint, requirements_ids
from monitor.detect.loader import RuleSet, fixtures_path, load_rules
from monitor.detect.schema import RISK_BANDS, RuleValidationError, parse_rule
from monitor.resources import rules_dir

from .helpers import BASE_RULE


@functools.cache
def pack() -> RuleSet:
    return load_rules()


def _fail(problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{len(problems)} problem(s):\n" + "\n".join(problems))


class TestValidRules:
    def test_pack_loads_with_at_least_20_rules(self) -> None:
        assert len(pack()) >= 20

    def test_checkpoint_and_git_and_sigma_covered(self) -> None:
        tags = {t for r in pack() for t in r.tags}
        assert {"checkpoint", "git", "sigma"} <= tags
        assert {r.type for r in pack()} == {"match", "threshold", "cardinality", "new_terms",
                                            "flatline", "spike", "sequence", "reconcile"}

    def test_lint_clean(self) -> None:
        _fail([str(i) for i in lint(pack())])

    def test_unique_ids_and_names(self) -> None:
        ids = [r.id for r in pack()]
        names = [r.name.lower() for r in pack()]
        assert len(ids) == len(set(ids)) and len(names) == len(set(names))

    def test_file_names(self) -> None:
        bad = [str(e.path) for e in pack().rules
               if not e.path.name.replace(".yaml", "").replace("_", "").isalnum()]
        _fail(bad)


class TestRiskScoreMismatch:
    def test_severity_band(self) -> None:
        bad = []
        for r in pack():
            low, high = RISK_BANDS[r.severity.value]
            if not low <= r.risk_score <= high:
                bad.append(f"{r.id} - {r.name}: {r.severity.value} with risk {r.risk_score}")
        _fail(bad)


class TestThreatMappings:
    def test_attack_ids_exist_and_match_tactic(self) -> None:
        data = attack_data()
        bad = []
        for r in pack():
            if not r.threat:
                bad.append(f"{r.id} - {r.name}: no ATT&CK mapping")
            for m in r.threat:
                if m.tactic not in data["tactics"]:
                    bad.append(f"{r.id} - {r.name}: tactic {m.tactic}")
                for t in m.techniques:
                    if t not in data["techniques"] or m.tactic not in data["techniques"][t]["tactics"]:
                        bad.append(f"{r.id} - {r.name}: technique {t} under {m.tactic}")
        _fail(bad)


class TestPciMappings:
    def test_requirements_file_exists(self) -> None:
        assert requirements_ids() is not None, "rules/pci/requirements.yaml is missing"

    def test_every_pci_id_exists(self) -> None:
        known = requirements_ids()
        assert known is not None
        bad = [f"{r.id} - {r.name}: {req}" for r in pack() for req in r.pci_dss_v4_0_1
               if req not in known]
        bad += [f"{r.id} - {r.name}: no PCI requirement" for r in pack() if not r.pci_dss_v4_0_1]
        _fail(bad)

    def test_lint_flags_unknown_pci_id(self, tmp_path: Path) -> None:
        import yaml
        rule = {**BASE_RULE, "type": "match", "query": "a:b", "pci_dss_v4_0_1": ["99.9.9"]}
        (tmp_path / "r.yaml").write_text(yaml.safe_dump(rule))
        (tmp_path / "r.fixtures.yaml").write_text("cases: []\n")
        issues = lint(load_rules([tmp_path]))
        assert any(i.field == "pci_dss_v4_0_1" and i.got == "99.9.9" for i in issues)

    def test_tolerant_without_requirements_file(self, tmp_path: Path) -> None:
        assert requirements_ids(tmp_path / "absent.yaml") is None
        assert not [i for i in lint(pack(), tmp_path / "absent.yaml") if "requirement" in i.expected]


class TestInvestigationGuide:
    def test_triage_note(self) -> None:
        _fail([f"{r.id} - {r.name}" for r in pack()
               if "triage" not in r.note.lower() or "#" not in r.note])


class TestFixtures:
    def test_fixtures_present_with_positive_and_negative_case(self) -> None:
        from monitor.yamlio import load_yaml
        bad = []
        for e in pack().rules:
            path = fixtures_path(e.path)
            if not path.is_file():
                bad.append(f"{e.rule.id} - {e.rule.name}: no {path.name}")
                continue
            cases = load_yaml(path)["cases"]
            if not any(c.get("findings") for c in cases):
                bad.append(f"{e.rule.id} - {e.rule.name}: no positive case")
            if not any(c.get("findings") == [] for c in cases):
                bad.append(f"{e.rule.id} - {e.rule.name}: no negative case")
        _fail(bad)


class TestSchemaErrors:
    """Errors name file, rule id and field, and are collected rather than first-only."""

    def test_all_issues_collected_with_location(self) -> None:
        data = {**BASE_RULE, "severity": "urgent", "risk_score": 400, "type": "threshold",
                "query": "x:1", "threshold": {"count": 0, "window": "5 minutes"}, "colour": "red"}
        with pytest.raises(RuleValidationError) as info:
            parse_rule(data, "rules/threat/x.yaml")
        fields = {i.field for i in info.value.issues}
        assert {"severity", "risk_score", "threshold.count", "threshold.window", "colour"} <= fields
        assert all(i.file == "rules/threat/x.yaml" and i.rule_id == BASE_RULE["id"]
                   for i in info.value.issues)
        text = str(info.value)
        assert "unknown field" in text and "rules/threat/x.yaml [" in text

    def test_risk_band_mismatch(self) -> None:
        with pytest.raises(RuleValidationError, match="outside the medium band"):
            parse_rule({**BASE_RULE, "risk_score": 90, "type": "match", "query": "a:b"})

    def test_query_exactly_one(self) -> None:
        with pytest.raises(RuleValidationError, match="exactly one of query"):
            parse_rule({**BASE_RULE, "type": "match", "query": "a:b", "query_dsl": {"match_all": {}}})

    def test_type_block_required_and_foreign_block_refused(self) -> None:
        with pytest.raises(RuleValidationError, match="needs a 'threshold:'"):
            parse_rule({**BASE_RULE, "type": "threshold", "query": "a:b"})
        with pytest.raises(RuleValidationError, match="'spike:' block given"):
            parse_rule({**BASE_RULE, "type": "match", "query": "a:b",
                        "spike": {"window": "1m", "reference": "1h", "factor": 2}})

    def test_duplicate_yaml_key_refused(self, tmp_path: Path) -> None:
        (tmp_path / "r.yaml").write_text("id: a\nname: b\nname: c\n")
        with pytest.raises(RuleValidationError, match="duplicate key 'name'"):
            load_rules([tmp_path])

    def test_yaml_tags_refused(self, tmp_path: Path) -> None:
        (tmp_path / "r.yaml").write_text("id: !!python/object/apply:os.system ['true']\n")
        with pytest.raises(RuleValidationError):
            load_rules([tmp_path])

    def test_duplicate_id_and_name_name_both_files(self, tmp_path: Path) -> None:
        import yaml
        rule = {**BASE_RULE, "type": "match", "query": "a:b"}
        (tmp_path / "a.yaml").write_text(yaml.safe_dump(rule))
        (tmp_path / "b.yaml").write_text(yaml.safe_dump(rule))
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(
            {**rule, "id": "00000000-0000-4000-8000-000000000009"}))
        with pytest.raises(RuleValidationError) as info:
            load_rules([tmp_path])
        issues = {i.field: i for i in info.value.issues}
        assert "a.yaml" in issues["id"].got and issues["id"].file.endswith("b.yaml")
        assert "a.yaml" in issues["name"].got and issues["name"].file.endswith("c.yaml")

    def test_bundled_rules_dir_is_the_pack(self) -> None:
        assert (rules_dir() / "threat").is_dir()


def test_reconcile_rule_may_only_name_the_shared_change_fields() -> None:
    """The reconcile type judges with the one match CHK-01 and the report use, which reads
    ``change.sha``/``change.tickets``; a rule naming another field would be judged silently on
    fields it did not ask for, so it is refused with the field named."""
    import yaml

    shipped = yaml.safe_load((rules_dir() / "threat" / "cp_out_of_band_policy_install.yaml")
                             .read_text())
    assert parse_rule(shipped).type == "reconcile"
    shipped["reconcile"]["b_sha_field"] = "git.commit"
    with pytest.raises(RuleValidationError, match="b_sha_field"):
        parse_rule(shipped, "rules/threat/cp_out_of_band_policy_install.yaml")
