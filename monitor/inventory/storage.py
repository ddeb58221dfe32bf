"""Write the inventory into its index and read the last snapshot back (through monitor.store)."""
from __future__ import annotations

import json
from datetime import datetime

from ..store import Store
from ..store.compliance import get_document, put_documents
from .load import SNAPSHOT_ID, inventory_documents, inventory_from_dict
from .model import Inventory

__all__ = ["read_inventory", "store_inventory"]


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
