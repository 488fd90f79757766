"""Fixtures for the logs tests: a settings dataclass and clean logging state.

The ``logging`` module is process-global, so every test gets the loggers it
touches (root, gunicorn.error, gunicorn.access) restored afterwards, and
every handler it added closed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workhorse.config.settings import Config
from workhorse.logs import AccessRecord


def Settings(**changes: Any) -> Config:
    """A real Config with Gunicorn's defaults and ``changes``."""
    return dataclasses.replace(Config(), **changes)


@pytest.fixture
def settings() -> Callable[..., Config]:
    return Settings


def make_record(**overrides: Any) -> AccessRecord:
    values: dict[str, Any] = {
        "remote_addr": "192.0.2.7",
        "method": "GET",
        "path": "/a",
        "query": "b=1",
        "version": "HTTP/1.1",
        "request_line": "GET /a?b=1 HTTP/1.1",
        "status": 200,
        "reason": "OK",
        "response_length": 12,
        "request_headers": [("HOST", "example.com")],
        "response_headers": [("Content-Type", "text/plain")],
        "environ": {},
        "start_time": 971186136.0,
        "duration": 0.0,
        "pid": 4242,
        "slot": 3,
        "request_id": "rid-1",
        "bytes_received": 80,
    }
    values.update(overrides)
    return AccessRecord(**values)


@pytest.fixture
def record() -> Callable[..., AccessRecord]:
    return make_record


@pytest.fixture
def utc() -> Iterator[None]:
    """Run with TZ=UTC (t prints local time)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    names = ["", "gunicorn.error", "gunicorn.access"]
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if handler not in handlers:
                logger.removeHandler(handler)
                try:
                    handler.close()
                except (OSError, ValueError):
                    pass
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled
