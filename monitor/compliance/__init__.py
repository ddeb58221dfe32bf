"""PCI DSS v4.0.1 compliance controls: catalogue, control files, evidence, verdicts.

Layout (one concern per module)::

    catalogue.py  rules/pci/requirements.yaml → Catalogue (+ lint against the controls)
    controls.py   rules/pci/controls/CHK-*.yaml and rules/pci/sources.yaml → Control, Source
    queries.py    pure: control + inventory + period → Elasticsearch aggregation bodies
    gather.py     runs them (one _msearch, plus one for reconcile look-ups) via monitor.store
    evaluate.py   pure: aggregation responses → ControlResult (pass/fail/insufficient_data/…)
    run.py        evaluate_period (daemon), summarize (metrics), requirement_status (reports)
    fixtures.py   run a control's fixtures against a real Elasticsearch (tests, CLI)

Entry points (see run.py for details)::

    await evaluate_period(controls, catalogue, store, start, end, now, *, inventory=None,
    sources=None, write=True) -> list[ControlResult]
    summarize(catalogue, results) -> Summary            # requirement_status, by_status, score
    await requirement_status(store, catalogue, start, end) -> list[RequirementStatus]
"""
from .catalogue import Catalogue, Requirement, lint_catalogue, load_catalogue
from .controls import Control, Source, load_controls, load_sources
from .queries import Period
from .run import (
    RequirementStatus,
    Summary,
    evaluate_period,
    requirement_status,
    result_id,
    summarize,
)

__all__ = [
    "Catalogue",
    "Control",
    "Period",
    "Requirement",
    "RequirementStatus",
    "Source",
    "Summary",
    "evaluate_period",
    "lint_catalogue",
    "load_catalogue",
    "load_controls",
    "load_sources",
    "requirement_status",
    "result_id",
    "summarize",
]
