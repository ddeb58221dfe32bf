"""PCI DSS compliance monitor for Check Point firewalls and GitOps deploy history.

Data flows through the subpackages in order: ``sources`` (bytes in) → ``normalize`` (ECS
documents, pure) → ``store`` (the only Elasticsearch client) → ``detect`` / ``compliance``
(evaluate) → ``outputs`` (findings, metrics, reports). ``daemon`` wires them on a schedule,
``cli`` exposes them to people.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
