"""Running as a service: ``health`` (for cron and people), ``metrics`` (Prometheus), ``monitor``
(fans each cycle out to logs, dashboard and metrics), ``notify`` (sd_notify), ``logs`` (text or JSON)."""
