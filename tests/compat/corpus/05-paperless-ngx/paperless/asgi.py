"""Stand-in for paperless.asgi: the stand-in Django project's ASGI application (paperless's wraps it in channels' ProtocolTypeRouter)."""

from compatsite.asgi import application  # noqa: F401
