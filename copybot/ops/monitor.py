"""What ``watch`` reports as it runs: copy decisions to the log, each cycle to the dashboard and
the metrics.

The status snapshot both need is read once per cycle from the loop's own store connection (the
loop is single-threaded, so this is safe and costs a few indexed queries), and only when a
dashboard or metrics are on. Reporting must never stop trading: a failing view is logged once
and that view switched off, never raised into the cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from copybot.cli.status import snapshot
from copybot.models import CopyOutcome
from copybot.ops.logs import log_outcomes

if TYPE_CHECKING:
    from copybot.app import App
    from copybot.cli.dashboard import Dashboard
    from copybot.daemon import CycleReport
    from copybot.ops.metrics import Metrics

log = logging.getLogger(__name__)

COPIES_SHOWN = 12
POSITIONS_SHOWN = 15  # the dashboard's table; the money totals and the metrics cover every position


class Monitor:
    def __init__(
        self, *, dashboard: Dashboard | None = None, metrics: Metrics | None = None, log_copies: bool = True
    ) -> None:
        self.dashboard = dashboard
        self.metrics = metrics
        self._log_copies = log_copies
        self._app: App | None = None

    def ready(self, app: App) -> None:
        """The app is built (database open and migrated): show the state we start from."""
        self._app = app
        self._publish(None)

    def outcomes(self, outcomes: Sequence[CopyOutcome]) -> None:
        if self._log_copies:
            log_outcomes(outcomes)
        if self.metrics is not None:
            self.metrics.observe_outcomes(outcomes)

    def cycle(self, report: CycleReport) -> None:
        if self.metrics is not None:
            try:
                self.metrics.observe_cycle(report)
            except Exception:
                log.exception("metrics update failed; metrics stay at their last values")
                self.metrics = None
        self._publish(report)

    def _publish(self, report: CycleReport | None) -> None:
        if self._app is None or (self.dashboard is None and self.metrics is None):
            return
        try:
            status = snapshot(self._app.store, self._app.clock.now(), COPIES_SHOWN, POSITIONS_SHOWN)
        except Exception as exc:  # e.g. the database is busy: try again next cycle
            log.warning("cannot read the status for the dashboard/metrics: %s", exc)
            return
        if self.metrics is not None:
            try:
                self.metrics.observe_status(status)
            except Exception:
                log.exception("metrics update failed; metrics stay at their last values")
                self.metrics = None
        if self.dashboard is not None:
            try:
                self.dashboard.show(status, report)
            except Exception:
                log.exception("dashboard update failed; turning it off")
                self.dashboard = None
