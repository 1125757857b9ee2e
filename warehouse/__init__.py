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

__all__ = [
    "DEFAULT_DB_PATH",
    "WarehouseBusyError",
    "WarehouseError",
    "connect",
    "reader",
    "resolve_db_path",
    "transaction",
    "writer",
]
