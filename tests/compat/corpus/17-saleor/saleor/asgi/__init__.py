"""Stand-in for saleor.asgi: the stand-in Django project's ASGI application (Saleor's wraps Django's in health-check, gzip and CORS handlers)."""

from compatsite.asgi import application  # noqa: F401
