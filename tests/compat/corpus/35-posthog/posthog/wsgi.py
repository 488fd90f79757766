"""Stand-in for posthog.wsgi: the stand-in Django project's WSGI application."""

from compatsite.wsgi import application  # noqa: F401
