"""PCI DSS compliance monitor for Check Point firewalls and GitOps deploy history.

Data flows through the subpackages in order: ``sources`` (pulls: bytes and API answers in) →
``normalize`` (ECS documents, pure) → ``store`` (the only Elasticsearch client), joined by the
one ingest pipeline (``ingest``) → ``detect`` / ``compliance`` (evaluate) → ``findings``,
``alerting``, ``metrics`` and ``reports`` (publish). ``daemon`` wires them on a schedule, ``cli``
exposes them to people. Shared values live in ``model``, the exception tree in ``errors``, the
configuration in ``settings``; ``CONTRIBUTING.md`` draws the layers.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
