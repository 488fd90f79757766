"""Fixtures of the interop tests: real apps served by workhorse, directly and behind nginx.

A test module defines a module-scoped ``pool`` fixture returning a
:class:`interop_stacks.StackPool` for its app; the ``stack`` fixture then runs
each test against every combination of WSGI worker kind (``sync``,
``gthread``, ``gevent``) and path (``direct``, ``nginx-tcp``, ``nginx-unix``),
and ``proxied`` against the nginx paths only. For an ASGI app, ``asgi_stack``
runs each test under the ``asgi`` worker on every path. ``nginx_factory`` comes from
tests/nginx_support.py (see its docstring to use it from another folder).
"""

from __future__ import annotations

import pytest
from interop_stacks import ALL_STACKS, ASGI_STACKS, NGINX_STACKS, Stack, StackPool, stack_id

from nginx_support import nginx_factory

__all__ = ["nginx_factory"]  # the fixture, for the tests of this folder


@pytest.fixture(params=ALL_STACKS, ids=stack_id)
def stack(request: pytest.FixtureRequest, pool: StackPool) -> Stack:
    """The module's app under each worker kind, directly and behind nginx (TCP, UNIX)."""
    return pool.get(*request.param)


@pytest.fixture(params=NGINX_STACKS, ids=stack_id)
def proxied(request: pytest.FixtureRequest, pool: StackPool) -> Stack:
    """The module's app under each worker kind, behind nginx over TCP and over UNIX."""
    return pool.get(*request.param)


@pytest.fixture(params=ASGI_STACKS, ids=stack_id)
def asgi_stack(request: pytest.FixtureRequest, pool: StackPool) -> Stack:
    """The module's ASGI app under the asgi worker, directly and behind nginx (TCP, UNIX)."""
    return pool.get(*request.param)
