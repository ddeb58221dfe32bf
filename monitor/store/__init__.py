"""The only package that talks to Elasticsearch.

``client`` builds the connection and detects capabilities, ``indices`` owns names, templates
and retention, ``writer`` bulk-indexes with dead-lettering, ``state`` keeps cursors, windows,
baselines and leases with compare-and-set. Elasticsearch errors become ``monitor.errors``
types here and nowhere else.
"""
from .client import Capabilities, Store, build_client, open_store
from .indices import IndexNames
from .state import StateDoc, StateStore
from .writer import BulkResult, BulkWriter

__all__ = [
    "Capabilities", "Store", "build_client", "open_store", "IndexNames", "StateDoc", "StateStore",
    "BulkResult", "BulkWriter",
]
