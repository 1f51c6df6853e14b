"""Prometheus metrics of the Django stand-in: http_requests_total and
http_request_duration_seconds (the names the stack's alert and recording rules use)."""
import time

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "handler", "status"], registry=REGISTRY)
LATENCY = Histogram("http_request_duration_seconds", "HTTP request duration", ["handler"], registry=REGISTRY)


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        t0 = time.monotonic()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        handler = match.route if match else "unmatched"
        REQUESTS.labels(request.method, handler, str(response.status_code)).inc()
        LATENCY.labels(handler).observe(time.monotonic() - t0)
        return response
