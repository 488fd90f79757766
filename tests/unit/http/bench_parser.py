"""Micro-benchmark of the HTTP core's common path (not collected by pytest).

One keep-alive cycle of a typical browser-like GET with six header fields:
feed the bytes, read Request / EndOfMessage / PAUSED, build a small
Content-Length response, end it, start the next cycle. Prints microseconds
per request: the best of seven runs of CPU time, so other processes on the
machine disturb the figure as little as possible.

    .venv/bin/python tests/unit/http/bench_parser.py [requests]
"""

from __future__ import annotations

import sys
import time

from workhorse.http import ServerConnection

REQUEST = (
    b"GET /api/items?page=2&sort=name HTTP/1.1\r\n"
    b"Host: example.com:8000\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)
RESPONSE_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "13")]
BODY = b"Hello, World!"


def run(n: int) -> float:
    conn = ServerConnection(server_name="workhorse/0.1.0")
    receive = conn.receive_data
    next_event = conn.next_event
    send_response = conn.send_response
    send_data = conn.send_data
    send_end = conn.send_end
    start_next_cycle = conn.start_next_cycle
    start = time.process_time()
    for _ in range(n):
        receive(REQUEST)
        next_event()  # Request
        next_event()  # EndOfMessage
        next_event()  # PAUSED
        out = send_response(200, RESPONSE_HEADERS) + send_data(BODY) + send_end()
        if conn.keep_alive:
            start_next_cycle()
    elapsed = time.process_time() - start
    assert out.endswith(BODY)
    return elapsed / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    best = min(run(n) for _ in range(7))
    print(f"{best:.2f} us/request ({1e6 / best:,.0f} requests/s for the HTTP core alone)")


if __name__ == "__main__":
    main()
