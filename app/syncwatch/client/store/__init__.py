"""The durable local history (Peewee + SQLite WAL): operations, their audit trail,
connection changes, health snapshots, and the resume cursor.

``HistoryStore`` writes (from ``StoreWriter``'s thread only), ``HistoryReader`` queries
from any one other thread, ``acquire_instance_lock`` keeps a second app instance away.
"""

from syncwatch.client.store.lock import InstanceLock, acquire_instance_lock, lock_holder_pid
from syncwatch.client.store.queries import HistoryReader
from syncwatch.client.store.rows import (
    CleanupResult,
    Count,
    DatabaseInfo,
    EventFilter,
    EventRow,
    HealthSnapshotLike,
    OperationRow,
    PageKey,
    SeriesPoint,
    SnapshotRow,
    Totals,
)
from syncwatch.client.store.schema import INTERRUPTED, SCHEMA_VERSION
from syncwatch.client.store.store import HistoryStore
from syncwatch.client.store.writer import StoreWriter

__all__ = [
    "INTERRUPTED",
    "SCHEMA_VERSION",
    "CleanupResult",
    "Count",
    "DatabaseInfo",
    "EventFilter",
    "EventRow",
    "HealthSnapshotLike",
    "HistoryReader",
    "HistoryStore",
    "InstanceLock",
    "OperationRow",
    "PageKey",
    "SeriesPoint",
    "SnapshotRow",
    "StoreWriter",
    "Totals",
    "acquire_instance_lock",
    "lock_holder_pid",
]
