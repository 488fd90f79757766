"""Micro-benchmark of the access log path (not collected by pytest).

Run: .venv/bin/python tests/unit/logs/bench_access.py [N]

Prints microseconds per record for: formatting the default format and the
seed format; Logger.access() with accesslog=None (the no-op every request
pays when access logging is off); Logger.access() into a real file (the
whole logging path: record, handler lock, write, flush).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from workhorse.logs import DEFAULT_ACCESS_LOG_FORMAT, AccessFormat, AccessRecord, Logger

SEED_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" rt=%(L)s busy=%({x-busy}i)s'
)


@dataclasses.dataclass
class Settings:
    accesslog: str | None = None
    access_log_format: str = DEFAULT_ACCESS_LOG_FORMAT
    errorlog: str = "-"
    loglevel: str = "info"
    capture_output: bool = False
    logconfig: str | None = None
    logconfig_dict: dict[str, Any] = dataclasses.field(default_factory=dict)
    logconfig_json: str | None = None
    disable_redirect_access_to_syslog: bool = False
    syslog: bool = False
    syslog_addr: str = "udp://localhost:514"
    syslog_prefix: str | None = None
    syslog_facility: str = "user"
    proc_name: str | None = None
    daemon: bool = False
    user: int = os.getuid()
    group: int = os.getgid()


def record() -> AccessRecord:
    headers = [
        ("HOST", "example.com"),
        ("USER-AGENT", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"),
        ("ACCEPT", "*/*"),
        ("REFERER", "https://example.com/"),
        ("x-busy", "3"),
    ]
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/articles/42",
        "QUERY_STRING": "page=2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.7",
        "HTTP_HOST": "example.com",
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        "HTTP_ACCEPT": "*/*",
        "HTTP_REFERER": "https://example.com/",
    }
    return AccessRecord(
        remote_addr="192.0.2.7",
        method="GET",
        path="/articles/42",
        query="page=2",
        version="HTTP/1.1",
        request_line="GET /articles/42?page=2 HTTP/1.1",
        status=200,
        reason="OK",
        response_length=5120,
        request_headers=headers,
        response_headers=[("Content-Type", "text/html"), ("Content-Length", "5120")],
        environ=environ,
        start_time=time.time(),
        duration=0.004321,
        pid=os.getpid(),
        slot=3,
        request_id="4f1c2a",
        bytes_received=312,
    )


def per_record_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rec = record()
    default = AccessFormat(DEFAULT_ACCESS_LOG_FORMAT)
    seed = AccessFormat(SEED_FORMAT)
    print(
        f"format, default format:            {per_record_us(lambda: default.format(rec), n):.2f} us"
    )
    print(f"format, seed format:               {per_record_us(lambda: seed.format(rec), n):.2f} us")

    off = Logger(Settings(accesslog=None))
    print(f"Logger.access, accesslog=None:     {per_record_us(lambda: off.access(rec), n):.3f} us")
    print(f"  (empty method call, reference:   {per_record_us(lambda: None, n):.3f} us)")
    off.close()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "access.log")
        on = Logger(Settings(accesslog=path, access_log_format=DEFAULT_ACCESS_LOG_FORMAT))
        us = per_record_us(lambda: on.access(rec), n)
        print(f"Logger.access, default to a file:  {us:.2f} us (whole logging path)")
        on.close()
    logging.shutdown()


if __name__ == "__main__":
    main()
