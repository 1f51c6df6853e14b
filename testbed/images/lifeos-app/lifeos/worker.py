"""LifeOS outbox worker stand-in: every WORKER_POLL_INTERVAL seconds it takes up to
WORKER_BATCH_SIZE events off the Redis outbox list and records them in Postgres
(processed_events), so it drains at most BATCH/POLL events a second (seed 000:
50 per 5 s). SIGTERM ends it after the batch in hand."""
import logging
import os
import signal
import time

from .common import OUTBOX_KEY, cache, db

log = logging.getLogger("lifeos.worker")
stop = False


def _stop(*_):
    global stop
    stop = True


def main():
    logging.basicConfig(level=os.environ.get("WORKER_LOGLEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    batch = int(os.environ.get("WORKER_BATCH_SIZE", "50"))
    poll = float(os.environ.get("WORKER_POLL_INTERVAL", "5"))
    log.info("worker started: batch=%s poll=%ss", batch, poll)
    conn = None
    while not stop:
        try:
            items = cache().rpop(OUTBOX_KEY, batch) or []
            if items:
                if conn is None or conn.closed:
                    conn = db()
                with conn, conn.cursor() as cur:
                    cur.executemany("INSERT INTO processed_events (kind, payload) VALUES (%s, %s)",
                                    [("event", i.decode("utf-8", "replace")) for i in items])
                log.info("processed %d events", len(items))
            for _ in range(int(poll * 10)):
                if stop:
                    break
                time.sleep(0.1)
        except Exception as e:  # noqa: BLE001
            log.warning("worker: %s: %s", type(e).__name__, e)
            conn = None
            time.sleep(1)
    log.info("worker stopped")


if __name__ == "__main__":
    main()
