"""Write the inventory into its index and read the last snapshot back (through monitor.store)."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from ..errors import RuleError
from ..store import Store
from ..store.compliance import get_document, put_documents
from .load import SNAPSHOT_ID, inventory_documents, inventory_from_dict, load_inventory
from .model import Inventory

__all__ = ["InventorySource", "read_inventory", "store_inventory"]

log = logging.getLogger(__name__)


async def store_inventory(store: Store, inventory: Inventory, now: datetime | None = None,
                          *, refresh: bool = True) -> int:
    """Replace the stored inventory snapshot and items; return the number of documents."""
    return await put_documents(store, "inventory", inventory_documents(inventory, now),
                               refresh=refresh)


async def read_inventory(store: Store) -> Inventory | None:
    doc = await get_document(store, "inventory", SNAPSHOT_ID)
    if doc is None:
        return None
    data = json.loads(doc["inventory"]["data_json"])
    return inventory_from_dict(data, f"{store.names.inventory}/{SNAPSHOT_ID}")


class InventorySource:
    """The inventory as it is *now*: ``inventory_file`` re-read at every call (so an edited
    file applies at the next run, without a restart), else the snapshot stored by
    ``monitor inventory load``. A file that stops validating keeps the last good inventory and
    says so (a typo must not turn every inventory-driven rule off)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.last_good: Inventory | None = None
        self.error: str | None = None

    async def current(self, store: Store) -> Inventory | None:
        if self.path is None:
            self.last_good = await read_inventory(store)
            return self.last_good
        try:
            self.last_good = load_inventory(self.path)
            self.error = None
        except RuleError as exc:
            self.error = str(exc)
            log.error("inventory %s is invalid, keeping the last good one: %s", self.path, exc)
        return self.last_good
