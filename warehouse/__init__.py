"""Owns every DuckDB connection, the raw schema, and the landing of data."""
from warehouse.connection import (
    DEFAULT_DB_PATH,
    WarehouseBusyError,
    WarehouseError,
    connect,
    reader,
    resolve_db_path,
    transaction,
    writer,
)
from warehouse.grid import grid_step  # noqa: E402  (the grid step in seconds; see warehouse/grid.py)

__all__ = [
    "DEFAULT_DB_PATH",
    "WarehouseBusyError",
    "WarehouseError",
    "connect",
    "grid_step",
    "reader",
    "resolve_db_path",
    "transaction",
    "writer",
]
