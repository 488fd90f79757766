"""A minimal real Django project served through Django's ASGI handler (``djasgi.asgi:application``).

Used by tests/interop/test_asgi_django.py: async views run on the worker's
event loop, sync views in the thread Django's handler runs them in
(``sync_to_async(thread_sensitive=True)``). No database, no installed apps:
the request path, the middleware and the handler are Django's own.
"""
