"""Pure normalize stage: raw records → ECS documents or dead letters. No I/O, no clock.

``normalize_checkpoint(raw, keep_original=True) -> Document | DeadLetter`` is the entry point
for every Check Point line (syslog, CEF, LEEF, JSON); ``normalize_api_log`` for Management
API objects. Ids come from ``ids``.
"""
from .checkpoint import normalize_api_log, normalize_checkpoint
from .ids import checkpoint_event_id, payload_id

__all__ = ["checkpoint_event_id", "normalize_api_log", "normalize_checkpoint", "payload_id"]
