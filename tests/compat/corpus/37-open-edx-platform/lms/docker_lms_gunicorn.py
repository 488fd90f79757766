"""
gunicorn configuration file: http://docs.gunicorn.org/en/stable/configure.html
"""

preload_app = False
timeout = 300
bind = "127.0.0.1:8000"
pythonpath = "@DIR@"
max_requests = 50
workers = 1


def pre_request(worker, req):
    worker.log.info(f"{req.method} {req.path}")


def close_all_caches():
    """
    Close the cache so that newly forked workers cannot accidentally share
    the socket with the processes they were forked from.
    """
    from django.conf import settings
    from django.core import cache as django_cache
    if hasattr(django_cache, 'caches'):
        get_cache = django_cache.caches.__getitem__
    else:
        get_cache = django_cache.get_cache  # pylint: disable=no-member
    for cache_name in settings.CACHES:
        cache = get_cache(cache_name)
        if hasattr(cache, 'close'):
            cache.close()

    cache = django_cache.cache
    if hasattr(cache, 'close'):
        cache.close()


def post_fork(_server, _worker):
    close_all_caches()
