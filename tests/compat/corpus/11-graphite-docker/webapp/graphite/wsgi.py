"""Stand-in for graphite's wsgi.py: the compat Django project."""

from compatsite.wsgi import application  # noqa: F401
