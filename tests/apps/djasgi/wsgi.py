"""The WSGI entry point, as ``django-admin startproject`` writes it (async views run
through ``async_to_sync`` there)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djasgi.settings")

application = get_wsgi_application()
