"""The SQLite store: the daemon's memory across restarts.

:class:`Store` (``db``) is the facade everything else uses, built on ``connection`` (opening,
transactions, migrations) and ``reports`` (the reads status and health make). ``schema`` holds the
migrations, ``records`` turns rows into typed values, ``fills`` stores what a poll found (dedupe,
reorgs), ``ledger`` the orders, trades, positions and cash a decision moves, ``retention``
compacts old fills.
"""

from copybot.store.db import IngestReport, PendingFill, Store
from copybot.store.reports import CycleStats
from copybot.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "CycleStats", "IngestReport", "PendingFill", "Store"]
