"""Settings shared by production and staging. The database comes from DATABASE_URL
(postgresql://user:pass@pgbouncer:6432/dbname); PgBouncer pools in transaction mode, so
server-side cursors are off and connections are not kept between requests."""
import os
from urllib.parse import unquote, urlparse

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
INSTALLED_APPS = ["django.contrib.contenttypes", "core"]
MIDDLEWARE = ["core.metrics.MetricsMiddleware", "django.middleware.common.CommonMiddleware"]
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = "/app/staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_db = urlparse(os.environ["DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": unquote(_db.username or ""),
        "PASSWORD": unquote(_db.password or ""),
        "HOST": _db.hostname,
        "PORT": str(_db.port or 5432),
        "CONN_MAX_AGE": 0,
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {"connect_timeout": 5},
    }
}
REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379/0")
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
