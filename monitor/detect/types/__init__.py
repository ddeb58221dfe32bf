"""One small module per rule type; ``RUNNERS`` maps the rule's ``type`` to its generator."""
from __future__ import annotations

from . import cardinality, flatline, match, new_terms, reconcile, sequence, spike, threshold
from .base import Ctx, Draft, Gen, Search

RUNNERS = {
    "match": match.run,
    "threshold": threshold.run,
    "cardinality": cardinality.run,
    "new_terms": new_terms.run,
    "flatline": flatline.run,
    "spike": spike.run,
    "sequence": sequence.run,
    "reconcile": reconcile.run,
}

__all__ = ["RUNNERS", "Ctx", "Draft", "Gen", "Search"]
