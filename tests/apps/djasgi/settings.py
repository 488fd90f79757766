"""Settings of the djasgi project: a production-like deployment behind nginx."""

from __future__ import annotations

SECRET_KEY = "interop-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "djasgi.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict[str, object] = {}
USE_TZ = True
# Django sets the process's TZ from TIME_ZONE (default America/Chicago): the
# worker's log lines would be stamped in another zone than the master's.
TIME_ZONE = "UTC"
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024
# Django's error pages, not its technical 500 page; the traceback goes to the log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}
