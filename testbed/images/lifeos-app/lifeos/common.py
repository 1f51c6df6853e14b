"""Connections shared by the web app and the worker (DATABASE_URL, REDIS_URL)."""
import os

import psycopg2
import redis

OUTBOX_KEY = "lifeos:outbox"


def db():
    return psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=3)


_redis = None


def cache():
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0"), socket_timeout=3)
    return _redis
