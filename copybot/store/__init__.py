"""The SQLite store: the daemon's memory across restarts.

:class:`Store` (``db``) is the facade everything else uses; ``schema`` holds the migrations,
``fills`` stores what a poll found (dedupe, reorgs), ``ledger`` the orders, trades, positions and
cash a decision moves, ``retention`` compacts old fills.
"""

from copybot.store.db import MIGRATIONS, SCHEMA_VERSION, CycleStats, IngestReport, PendingFill, Store

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "CycleStats", "IngestReport", "PendingFill", "Store"]
