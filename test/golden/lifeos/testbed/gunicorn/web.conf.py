# Rendered by lifeops from lifeos.yaml (environment testbed). Do not edit: run `lifeops render`.
# Gunicorn settings for service "web" (app lifeos.wsgi:app).
# Check with: gunicorn --check-config -c THIS_FILE lifeos.wsgi:app
import json
import logging
import multiprocessing
import os

bind = "0.0.0.0:8000"
workers = 2
threads = 2
worker_class = "gthread"
worker_connections = 1000
timeout = 60
graceful_timeout = 30
keepalive = 5
max_requests = 10000
max_requests_jitter = 500
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
preload_app = False
reuse_port = True
forwarded_allow_ips = "*"
proxy_allow_ips = "*"

# Logs: errors to stderr, access log to stdout (collected by Docker).
errorlog = "-"
accesslog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
capture_output = True
access_log_format = "{\"time\": \"%(t)s\", \"remote_addr\": \"%(h)s\", \"method\": \"%(m)s\", \"path\": \"%(U)s\", \"query\": \"%(q)s\", \"status\": \"%(s)s\", \"bytes\": \"%(B)s\", \"duration_us\": \"%(D)s\", \"referer\": \"%(f)s\", \"user_agent\": \"%(a)s\", \"request_id\": \"%({x-request-id}i)s\", \"pid\": \"%(p)s\"}"
# The stack's logging.conf, when mounted next to this file.
_logconfig = os.path.join(os.path.dirname(os.path.abspath(__file__)), "logging.conf")
if os.path.exists(_logconfig):
    logconfig = _logconfig

statsd_host = "statsd-exporter:9125"
statsd_prefix = "lifeos.prod"

_log = logging.getLogger("gunicorn.error")


def on_starting(server):
    server.log.info("gunicorn starting: service=web workers=%s threads=%s", server.cfg.workers, server.cfg.threads)


def when_ready(server):
    server.log.info("gunicorn ready: listening on %s", ",".join(str(l) for l in server.LISTENERS))


def worker_exit(server, worker):
    server.log.info("gunicorn worker exited: pid=%s", worker.pid)


def on_exit(server):
    server.log.info("gunicorn stopped: service=web")
