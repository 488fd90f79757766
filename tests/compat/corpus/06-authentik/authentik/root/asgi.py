"""Stand-in for authentik.root.asgi: the stand-in Django project's ASGI application."""

from compatsite.asgi import application  # noqa: F401
