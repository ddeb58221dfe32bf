"""Configuration-management data for the controls: zones, CDE hosts, services, identities.

Public surface::

    load_inventory(path, csv_paths=None) -> Inventory      # strict YAML/CSV, RuleError on problems
    inventory_from_dict(data, source) -> Inventory
    Inventory.params() -> dict                              # values for $inventory.<key> in controls
    await store_inventory(store, inventory)                 # write into the "inventory" index
    await read_inventory(store) -> Inventory | None         # the last stored snapshot
    await InventorySource(path).current(store)              # file re-read each run, else snapshot
"""
from .load import csv_rows_to_dict, inventory_documents, inventory_from_dict, load_inventory
from .model import Inventory
from .storage import InventorySource, read_inventory, store_inventory

__all__ = [
    "Inventory",
    "InventorySource",
    "csv_rows_to_dict",
    "inventory_documents",
    "inventory_from_dict",
    "load_inventory",
    "read_inventory",
    "store_inventory",
]
