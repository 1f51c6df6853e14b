"""Command Center backend stand-in: a plain ASGI app (no FastAPI on this machine).

GET  /health          liveness
GET  /ready           Postgres SELECT 1 + Redis PING + RAG folder writable, else 503
GET  /metrics         Prometheus text
POST /api/notes       store the body in Postgres (table notes, created at start-up)
GET  /api/notes       count of notes
PUT  /api/rag/<name>  write the body to RAG_STORAGE_PATH/<name> (a document of the RAG store)
"""
import json
import os
import re
import time

import psycopg2
import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REG = CollectorRegistry()
REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "handler", "status"], registry=REG)
LATENCY = Histogram("http_request_duration_seconds", "HTTP request duration", ["handler"], registry=REG)
RAG_OPS = Counter("commandcenter_rag_operations_total", "RAG operations", ["operation", "success"], registry=REG)
REPO_OPS = Counter("commandcenter_repository_operations_total", "Repository operations", ["operation", "success"], registry=REG)
CACHE_OPS = Counter("commandcenter_cache_operations_total", "Cache operations", ["operation", "result"], registry=REG)
ACTIVE = Gauge("commandcenter_active_research_tasks", "Research tasks running", registry=REG)
RAG_DIR = os.environ.get("RAG_STORAGE_PATH", "/app/rag_storage")
NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_redis = None


def db():
    return psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=3)


def cache():
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0"), socket_timeout=3)
    return _redis


def _init():
    for _ in range(30):
        try:
            with db() as conn, conn.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS notes (id bigserial PRIMARY KEY, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())")
            return
        except psycopg2.errors.UniqueViolation:  # another worker created it at the same moment
            return
        except Exception:  # noqa: BLE001
            time.sleep(1)


_init()


def _ready():
    failed = {}
    try:
        with db() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    except Exception as e:  # noqa: BLE001
        failed["database"] = type(e).__name__
    try:
        cache().ping()
        CACHE_OPS.labels("ping", "ok").inc()
    except Exception as e:  # noqa: BLE001
        failed["redis"] = type(e).__name__
    if not os.access(RAG_DIR, os.W_OK):
        failed["rag_storage"] = "not writable"
    return failed


def handle(method, path, body):
    """-> (handler, status, content_type, bytes)"""
    def js(status, obj):
        return status, "application/json", json.dumps(obj).encode()

    if path == "/health":
        return ("health",) + js(200, {"status": "healthy"})
    if path == "/ready":
        f = _ready()
        return ("ready",) + (js(503, {"status": "not ready", "failed": f}) if f else js(200, {"status": "ready"}))
    if path == "/metrics":
        return "metrics", 200, CONTENT_TYPE_LATEST, generate_latest(REG)
    if path == "/api/notes" and method == "POST":
        with db() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO notes (body) VALUES (%s) RETURNING id", (body.decode("utf-8", "replace"),))
            nid = cur.fetchone()[0]
        REPO_OPS.labels("create", "true").inc()
        return ("api",) + js(201, {"id": nid})
    if path == "/api/notes":
        with db() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM notes")
            return ("api",) + js(200, {"notes": cur.fetchone()[0]})
    if path.startswith("/api/rag/") and method == "PUT":
        name = path[len("/api/rag/"):]
        if not NAME.match(name):
            return ("api",) + js(400, {"error": "bad name"})
        with open(os.path.join(RAG_DIR, name), "wb") as f:
            f.write(body)
        RAG_OPS.labels("ingest", "true").inc()
        return ("api",) + js(201, {"stored": name, "bytes": len(body)})
    return ("other",) + js(404, {"error": "not found"})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    t0 = time.monotonic()
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    try:
        handler, status, ctype, out = handle(scope["method"], scope["path"], body)
    except Exception:  # noqa: BLE001
        handler, status, ctype, out = "error", 500, "application/json", b'{"error": "internal"}'
    REQUESTS.labels(scope["method"], handler, str(status)).inc()
    LATENCY.labels(handler).observe(time.monotonic() - t0)
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})
