#!/usr/bin/python3
"""Debian's prometheus-pgbouncer-exporter 1.7 (written for PgBouncer 1.7) run
against PgBouncer 1.8 and later, which Debian ships (1.18):

- PgBouncer 1.8 split SHOW STATS' total_requests into total_xact_count and
  total_query_count. Unpatched, the exporter dies with KeyError: 'total_requests'
  on its first collection (at start), so its container restarts for ever and
  Prometheus reports the target as "no such host". The 1.8+ columns are read
  instead; total_query_count keeps the exporter's own metric name
  (pgbouncer_requests_total), total_xact_count adds pgbouncer_transactions_total.
- The exporter opens one connection at start and never reopens it. Here it
  waits for PgBouncer at start (compose starts it beside PgBouncer), and a
  scrape after PgBouncer restarted reconnects instead of failing for ever.
The package itself is not modified: this module sets both up, then calls its main().
"""
import logging
import sys
import time

import psycopg2
from prometheus_pgbouncer_exporter import cli, collectors, utils

collectors.StatsCollector.metrics = {
    "total_query_count": ("requests_total", "Total number of SQL queries pooled by pgbouncer"),
    "total_xact_count": ("transactions_total", "Total number of SQL transactions pooled by pgbouncer"),
    "total_received": ("received_bytes_total", "Total volume in bytes of network traffic received by pgbouncer"),
    "total_sent": ("sent_bytes_total", "Total volume in bytes of network traffic sent by pgbouncer"),
    "total_query_time": ("query_microseconds_total", "Total number of microseconds spent by pgbouncer when actively connected to PostgreSQL"),
}

WAIT_SECONDS = 300


class ReconnectingConnection:
    """Stands in for the exporter's one psycopg2 connection; opens a new one when it was closed."""

    def __init__(self, user, port, host):
        self.args = (user, port, host)
        self.conn = None

    def cursor(self):
        if self.conn is None or self.conn.closed:
            self.conn = utils.get_connection(*self.args)
        return self.conn.cursor()


def connect_when_ready(user, port, host):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            conn = ReconnectingConnection(user, port, host)
            with conn.cursor() as cur:
                cur.execute("SHOW VERSION;")
            return conn
        except psycopg2.Error as e:
            if time.monotonic() > deadline:
                raise
            logging.warning("pgbouncer at %s:%s not ready yet: %s", host, port, str(e).strip().splitlines()[0])
            time.sleep(2)


cli.get_connection = connect_when_ready

if __name__ == "__main__":
    sys.exit(cli.main())
