"""Threat rules: load and lint the rule pack, compile rules to searches, run them on a schedule.

``loader`` reads rule files (``schema`` validates them, ``lint`` checks the pack), ``compile``
turns a rule into query bodies, ``types/`` holds one small I/O-free generator per rule type,
and ``engine`` runs due windows through ``store.search`` and writes findings. ``fixtures`` runs
each rule's fixture cases; ``sigma`` imports Sigma rules. Nothing is imported here, so loading
one module does not load the others.
"""
