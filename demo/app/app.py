"""lifeops demo web app (WSGI; stdlib + psycopg2 + redis only).

GET /health  -> 200 {"status":"ok","version":...,"service":"web"}   (no DB, fast)
GET /ready   -> 200 {"status":"ready",...} or 503 naming what failed (Postgres SELECT 1, Redis PING)
GET /        -> small JSON with the version; increments a Redis counter
GET /metrics -> Prometheus text format (per-process counters and a duration histogram)

Configuration: APP_VERSION, DATABASE_URL (postgresql://user:pass@db:5432/demo), REDIS_URL
(redis://cache:6379/0), SERVICE_NAME (default "web"). Secrets never appear in responses.
"""
import json
import os
import socket
import threading
import time

import psycopg2
import redis

VERSION = os.environ.get("APP_VERSION", "dev")
SERVICE = os.environ.get("SERVICE_NAME", "web")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CHECK_TIMEOUT = float(os.environ.get("READY_TIMEOUT", "2"))

_lock = threading.Lock()
_requests = {}                      # (path, status) -> count
_bucket_counts = [0] * len(BUCKETS)
_duration_sum = 0.0
_duration_count = 0
_started = time.time()
_redis_client = None
# gunicorn runs several worker processes: each writes its counters to METRICS_DIR and
# /metrics sums every file, so a scrape sees the whole container (counters stay monotonic).
METRICS_DIR = os.environ.get("METRICS_DIR", "/tmp/lifeops-demo-metrics")
_metrics_file = None


def _redis():
    global _redis_client
    if _redis_client is None:
        _redis_client = redis.Redis.from_url(
            os.environ.get("REDIS_URL", "redis://cache:6379/0"),
            socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
    return _redis_client


def _scrub(text):
    """Remove anything that could be a credential from an error message."""
    text = str(text).strip().splitlines()[0] if str(text).strip() else "error"
    for var in ("DATABASE_URL", "REDIS_URL", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        val = os.environ.get(var)
        if val:
            text = text.replace(val, "***")
    for url in (os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")):
        if "@" in url and "://" in url:
            cred = url.split("://", 1)[1].rsplit("@", 1)[0]
            if ":" in cred:
                pw = cred.split(":", 1)[1]
                if pw:
                    text = text.replace(pw, "***")
    return text[:200]


def check_postgres():
    url = os.environ.get("DATABASE_URL")
    if not url:
        return "DATABASE_URL not set"
    try:
        conn = psycopg2.connect(url, connect_timeout=max(1, int(CHECK_TIMEOUT)))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        finally:
            conn.close()
        return None
    except Exception as exc:  # noqa: BLE001
        return _scrub(exc)


def check_redis():
    try:
        _redis().ping()
        return None
    except Exception as exc:  # noqa: BLE001
        return _scrub(exc)


def _json(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store")])
    return [data]


def _snapshot():
    return {"requests": [[p, s, n] for (p, s), n in _requests.items()],
            "buckets": list(_bucket_counts), "sum": _duration_sum, "count": _duration_count}


def _persist():
    """Write this process's counters (called with _lock held); best effort."""
    global _metrics_file
    try:
        if _metrics_file is None:
            os.makedirs(METRICS_DIR, exist_ok=True)
            _metrics_file = os.path.join(METRICS_DIR, "%d-%d.json" % (os.getpid(), int(_started * 1000)))
        tmp = _metrics_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(_snapshot(), fh)
        os.replace(tmp, _metrics_file)
    except OSError:
        pass


def _collect():
    """Sum the counters of every worker process (this one included)."""
    with _lock:
        mine = _snapshot()
    snaps = [mine]
    try:
        for name in os.listdir(METRICS_DIR):
            full = os.path.join(METRICS_DIR, name)
            if name.endswith(".json") and full != _metrics_file:
                try:
                    with open(full) as fh:
                        snaps.append(json.load(fh))
                except (OSError, ValueError):
                    pass
    except OSError:
        pass
    reqs, buckets, total, count = {}, [0] * len(BUCKETS), 0.0, 0
    for snap in snaps:
        for p, s, n in snap["requests"]:
            reqs[(p, s)] = reqs.get((p, s), 0) + n
        buckets = [a + b for a, b in zip(buckets, snap["buckets"])]
        total += snap["sum"]
        count += snap["count"]
    return reqs, buckets, total, count


def _metrics_text():
    reqs, buckets, total, count = _collect()
    lines = [
        "# HELP http_requests_total HTTP requests handled (all worker processes).",
        "# TYPE http_requests_total counter",
    ]
    for (path, status), n in sorted(reqs.items()):
        lines.append('http_requests_total{path="%s",status="%s"} %d' % (path, status, n))
    lines += [
        "# HELP http_request_duration_seconds HTTP request duration.",
        "# TYPE http_request_duration_seconds histogram",
    ]
    for le, n in zip(BUCKETS, buckets):
        lines.append('http_request_duration_seconds_bucket{le="%s"} %d' % (le, n))
    lines.append('http_request_duration_seconds_bucket{le="+Inf"} %d' % count)
    lines.append("http_request_duration_seconds_sum %f" % total)
    lines.append("http_request_duration_seconds_count %d" % count)
    lines += [
        "# HELP app_info Application version.",
        "# TYPE app_info gauge",
        'app_info{version="%s",service="%s",hostname="%s"} 1' % (VERSION, SERVICE, socket.gethostname()),
        "# HELP process_start_time_seconds Start time of the process since unix epoch.",
        "# TYPE process_start_time_seconds gauge",
        "process_start_time_seconds %f" % _started,
    ]
    return ("\n".join(lines) + "\n").encode()


def _route(environ, start_response):
    path = environ.get("PATH_INFO", "/") or "/"
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in ("GET", "HEAD"):
        return _json(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
    if path == "/health":
        return _json(start_response, "200 OK", {"status": "ok", "version": VERSION, "service": SERVICE})
    if path == "/ready":
        failed = {}
        err = check_postgres()
        if err:
            failed["postgres"] = err
        err = check_redis()
        if err:
            failed["redis"] = err
        if failed:
            return _json(start_response, "503 Service Unavailable",
                         {"status": "unready", "version": VERSION, "service": SERVICE, "failed": failed})
        return _json(start_response, "200 OK",
                     {"status": "ready", "version": VERSION, "service": SERVICE, "checks": ["postgres", "redis"]})
    if path == "/metrics":
        data = _metrics_text()
        start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                                  ("Content-Length", str(len(data)))])
        return [data]
    if path == "/":
        hits = None
        try:
            hits = _redis().incr("demo:hits")
        except Exception:  # noqa: BLE001  (the page still answers without Redis)
            hits = None
        return _json(start_response, "200 OK",
                     {"app": "lifeops-demo", "version": VERSION, "service": SERVICE,
                      "hostname": socket.gethostname(), "hits": hits})
    return _json(start_response, "404 Not Found", {"error": "not found", "path": path})


def application(environ, start_response):
    t0 = time.perf_counter()
    seen = {}

    def _sr(status, headers, exc_info=None):
        seen["status"] = status.split(" ", 1)[0]
        return start_response(status, headers, exc_info)

    try:
        return _route(environ, _sr)
    finally:
        dt = time.perf_counter() - t0
        path = environ.get("PATH_INFO", "/")
        if path not in ("/", "/health", "/ready", "/metrics"):
            path = "other"
        global _duration_sum, _duration_count
        with _lock:
            key = (path, seen.get("status", "500"))
            _requests[key] = _requests.get(key, 0) + 1
            for i, le in enumerate(BUCKETS):
                if dt <= le:
                    _bucket_counts[i] += 1
            _duration_sum += dt
            _duration_count += 1
            _persist()


if __name__ == "__main__":
    from wsgiref.simple_server import make_server
    port = int(os.environ.get("PORT", "8000"))
    print("serving on :%d" % port)
    make_server("0.0.0.0", port, application).serve_forever()
