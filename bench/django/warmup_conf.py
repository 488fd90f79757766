"""workhorse configuration for the Django project: warm every kind of page in the master.

    workhorse -c warmup_conf.py --preload -w 4 benchsite.wsgi:application

The warm-up requests open Django's database connection in the master
(CONN_MAX_AGE keeps it); when_ready closes it before the first fork, as the
master requires.
"""

warmup = [
    "/",
    "/books/",
    "/authors/1/",
    "/api/books.json",
    "/api/stats.json",
    "/admin/login/",
    "/admin/catalog/book/",  # anonymous: the redirect to the login page
]


def when_ready(server):
    from django.db import connections

    connections.close_all()
