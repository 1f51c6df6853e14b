import json

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import REGISTRY
from .models import Item

_redis = None


def health(request):
    return JsonResponse({"status": "ok", "environment": settings.ENVIRONMENT})


def ready(request):
    global _redis
    failed = {}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
    except Exception as e:  # noqa: BLE001
        failed["database"] = type(e).__name__
    try:
        if _redis is None:
            _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=3)
        _redis.ping()
    except Exception as e:  # noqa: BLE001
        failed["redis"] = type(e).__name__
    if failed:
        return JsonResponse({"status": "not ready", "failed": failed}, status=503)
    return JsonResponse({"status": "ready", "database": connection.settings_dict["NAME"]})


def metrics(request):
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


@csrf_exempt
def items(request):
    if request.method == "POST":
        title = json.loads(request.body or b"{}").get("title", "untitled")
        item = Item.objects.create(title=title)
        return JsonResponse({"id": item.id, "title": item.title}, status=201)
    return JsonResponse({"items": Item.objects.count(), "database": connection.settings_dict["NAME"]})
