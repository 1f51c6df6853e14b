# {{header}}
# Gunicorn settings for service "{{service}}" (app {{module}}).
# Check with: gunicorn --check-config -c THIS_FILE {{module}}
import json
import logging
import multiprocessing
import os

bind = {{bind}}
workers = {{workers}}
threads = {{threads}}
worker_class = {{worker_class}}
worker_connections = {{worker_connections}}
timeout = {{timeout}}
graceful_timeout = {{graceful_timeout}}
keepalive = {{keepalive}}
max_requests = {{max_requests}}
max_requests_jitter = {{max_requests_jitter}}
limit_request_line = {{limit_request_line}}
limit_request_fields = {{limit_request_fields}}
limit_request_field_size = {{limit_request_field_size}}
preload_app = {{preload_app}}
reuse_port = {{reuse_port}}
forwarded_allow_ips = {{forwarded_allow_ips}}
proxy_allow_ips = {{forwarded_allow_ips}}

# Logs: errors to stderr, access log to stdout (collected by Docker).
errorlog = "-"
accesslog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
capture_output = True
{{access_log_format}}
# The stack's logging.conf, when mounted next to this file.
_logconfig = os.path.join(os.path.dirname(os.path.abspath(__file__)), "logging.conf")
if os.path.exists(_logconfig):
    logconfig = _logconfig
{{statsd}}

_log = logging.getLogger("gunicorn.error")


def on_starting(server):
    server.log.info("gunicorn starting: service={{service}} workers=%s threads=%s", server.cfg.workers, server.cfg.threads)


def when_ready(server):
    server.log.info("gunicorn ready: listening on %s", ",".join(str(l) for l in server.LISTENERS))


def worker_exit(server, worker):
    server.log.info("gunicorn worker exited: pid=%s", worker.pid)


def on_exit(server):
    server.log.info("gunicorn stopped: service={{service}}")
