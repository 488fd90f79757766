"""Stand-in for seahub.wsgi: the compat Django project."""

from compatsite.wsgi import application  # noqa: F401
