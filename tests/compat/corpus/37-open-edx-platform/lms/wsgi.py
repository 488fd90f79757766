"""Stand-in for the project's wsgi module: the compat Django project."""

from compatsite.wsgi import application  # noqa: F401
