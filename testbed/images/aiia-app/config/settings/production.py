from .base import *  # noqa: F401,F403

ENVIRONMENT = "production"
