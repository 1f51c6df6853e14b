"""LifeOS web stand-in: plain WSGI.

GET  /health        liveness (no dependencies)
GET  /ready         Postgres SELECT 1 and Redis PING, 503 when either fails
GET  /metrics       Prometheus text: http_requests_total, http_request_duration_seconds,
                    outbox_pending_messages (length of the Redis outbox list, read at scrape time)
POST /api/events    body = one event; pushed onto the outbox list for the worker
POST /api/notes     body = a note, stored in Postgres
GET  /api/notes     the number of notes and processed events
"""
import json
import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .common import OUTBOX_KEY, cache, db

REGISTRY = CollectorRegistry()
REQUESTS = Counter("http_requests_total", "HTTP requests by method, path group and status", ["method", "handler", "status"], registry=REGISTRY)
LATENCY = Histogram("http_request_duration_seconds", "HTTP request duration", ["handler"], registry=REGISTRY)
PENDING = Gauge("outbox_pending_messages", "Outbox messages waiting for the worker", registry=REGISTRY)
PENDING.set_function(lambda: float(cache().llen(OUTBOX_KEY)))
VERSION = os.environ.get("APP_VERSION", "testbed")


def _json(start_response, status, obj):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _body(environ):
    try:
        n = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        n = 0
    return environ["wsgi.input"].read(n).decode("utf-8", "replace") if n else ""


def _ready():
    problems = {}
    try:
        with db() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    except Exception as e:  # noqa: BLE001
        problems["database"] = type(e).__name__
    try:
        cache().ping()
    except Exception as e:  # noqa: BLE001
        problems["redis"] = type(e).__name__
    return problems


def route(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    if path == "/health":
        return "health", _json(start_response, "200 OK", {"status": "ok", "version": VERSION})
    if path == "/ready":
        problems = _ready()
        if problems:
            return "ready", _json(start_response, "503 Service Unavailable", {"status": "not ready", "failed": problems})
        return "ready", _json(start_response, "200 OK", {"status": "ready"})
    if path == "/metrics":
        try:
            body = generate_latest(REGISTRY)
        except Exception:  # noqa: BLE001  redis down: still answer, without the gauge
            body = b"# outbox_pending_messages unavailable\n"
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return "metrics", [body]
    if path == "/api/events" and method == "POST":
        event = _body(environ) or "{}"
        n = cache().lpush(OUTBOX_KEY, event)
        return "api", _json(start_response, "202 Accepted", {"queued": n})
    if path == "/api/notes" and method == "POST":
        with db() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO notes (body) VALUES (%s) RETURNING id", (_body(environ),))
            nid = cur.fetchone()[0]
        return "api", _json(start_response, "201 Created", {"id": nid})
    if path == "/api/notes":
        with db() as conn, conn.cursor() as cur:
            cur.execute("SELECT (SELECT count(*) FROM notes), (SELECT count(*) FROM processed_events)")
            notes, events = cur.fetchone()
        return "api", _json(start_response, "200 OK", {"notes": notes, "processed_events": events})
    if path == "/":
        return "root", _json(start_response, "200 OK", {"app": "lifeos", "version": VERSION})
    return "other", _json(start_response, "404 Not Found", {"error": "not found"})


def app(environ, start_response):
    t0 = time.monotonic()
    status_holder = {}

    def sr(status, headers, exc_info=None):
        status_holder["s"] = status.split(" ", 1)[0]
        return start_response(status, headers, exc_info)

    try:
        handler, body = route(environ, sr)
    except Exception:  # noqa: BLE001
        handler = "error"
        body = _json(sr, "500 Internal Server Error", {"error": "internal"})
    REQUESTS.labels(environ["REQUEST_METHOD"], handler, status_holder.get("s", "500")).inc()
    LATENCY.labels(handler).observe(time.monotonic() - t0)
    return body
