"""The request corpus through a real nginx in front of workhorse: they never desync.

Request smuggling needs two parsers that disagree on where a request ends.
Each corpus case is sent to nginx as raw bytes; nginx accepts or refuses it
and forwards what it accepted to workhorse over the upstream connection:

- ``keepalive``: HTTP/1.1 upstream connections kept alive between requests
  (``proxy_http_version 1.1; proxy_set_header Connection ""; keepalive``),
  the set-up where a disagreement would leave bytes on a shared connection
  that become the next client's request;
- ``http10``: nginx's default HTTP/1.0 upstream, one connection per request.

After each case a marker request (``GET /__mark/N``) goes through the same
nginx. The checks, per case:

- no request whose target is ``/smuggled`` ever reaches the app;
- the requests nginx forwarded and workhorse answered (its access log:
  ``upstream_status``) are exactly the ones the app saw, in order, and
  nginx forwarded nothing that workhorse refused;
- the marker is answered 200 by the app, and is the last thing it saw: the
  upstream connection still starts requests where nginx thinks they start.

The asgi worker runs behind the keep-alive upstream (where a desync would
do harm), serving hardening_asgi_app.py; its app sees a target as
``raw_path`` and ``query_string`` (:func:`_asgi_visible`). nginx never
half-closes an upstream connection, so the asgi worker's reading of a FIN
(corpus_model.py) does not come into play here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus_model import DEFAULT_LIMITS, case_id, expect
from hardening_support import exchange, parse_responses, start_server
from http_corpus import load_cases

from nginx_support import Nginx, require_nginx

pytestmark = pytest.mark.nginx

CASES = load_cases()

#: (worker kind, nginx upstream mode)
STACKS = [("gthread", "keepalive"), ("gthread", "http10"), ("sync", "http10"),
          ("gthread1", "keepalive"), ("asgi", "keepalive"), ("gevent", "keepalive")]
#: Upstream connections nginx keeps per worker in the keepalive stack.
UPSTREAM_KEEPALIVE = 4
#: nginx must finish a request whose client half-closed after sending it.
NGINX_HTTP = "proxy_ignore_client_abort on;"

_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?]*")


class Stack:
    def __init__(self, directory: Path, kind: str, mode: str) -> None:
        self.kind, self.mode = kind, mode
        self.server, self.records = start_server(directory, kind, name=f"{kind}-{mode}")
        self.nginx = Nginx(f"127.0.0.1:{self.server.port}", directory / "nginx",
                           binary=require_nginx(), extra_http=NGINX_HTTP,
                           upstream_keepalive=UPSTREAM_KEEPALIVE if mode == "keepalive" else 0)
        self.marks = 0

    def start(self) -> Stack:
        self.nginx.start()
        return self

    def stop(self) -> None:
        try:
            self.nginx.stop()
        finally:
            self.server.stop()

    def marker(self) -> tuple[str, int, bytes]:
        """A request through nginx that must reach the app; returns its path, status, body."""
        self.marks += 1
        path = f"/__mark/{self.marks}"
        result = exchange(self.nginx.port, f"GET {path} HTTP/1.1\r\nHost: mark\r\n"
                          "Connection: close\r\n\r\n".encode(), half_close=False, timeout=10)
        responses, _ = parse_responses(result.received, ["GET"])
        assert len(responses) == 1, result
        return path, responses[0].status, responses[0].body


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], Stack]]:
    require_nginx()
    started: dict[tuple[str, str], Stack] = {}
    try:
        for kind, mode in STACKS:
            stack = Stack(tmp_path_factory.mktemp(f"{kind}-{mode}"), kind, mode)
            started[(kind, mode)] = stack
            stack.start()
        yield started
    finally:
        for stack in started.values():
            stack.stop()


def _origin_form(target: str) -> str:
    """The target nginx passes upstream: absolute-form loses its scheme and authority."""
    if not _ABSOLUTE.match(target):
        return target
    stripped = _ABSOLUTE.sub("", target)
    return stripped if stripped.startswith("/") else "/" + stripped


def _request_of(entry: dict[str, str]) -> tuple[str, str]:
    """Method and upstream target of an nginx log entry (``$request`` is the raw line)."""
    words = entry["request"].split()
    method, target = [*words, "", ""][:2]
    return method, _origin_form(target)


def _asgi_visible(request: tuple[str, str]) -> tuple[str, str]:
    """What an ASGI app sees of a target nginx forwarded: an empty query is not kept."""
    method, target = request
    path, _, query = target.partition("?")
    return method, f"{path}?{query}" if query else path


def _app_request(record: dict[str, str]) -> tuple[str, str]:
    # The app records the target decoded as latin-1 (as WSGI's RAW_URI and the ASGI
    # scope's raw bytes give it); nginx logs its raw bytes.
    return record["method"], record["target"].encode("latin-1").decode("utf-8", "replace")


def _brief(entries: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(e["request"][:80], e["status"], e["upstream_status"]) for e in entries]


def _may_refuse(case, stack: Stack, entry: dict[str, str]) -> bool:
    """A request nginx forwarded that workhorse may refuse (4xx) without any desync:

    - workhorse's own parse of the raw case refuses it (it is stricter than
      nginx: control bytes in values, method length, fragments, field counts,
      Host syntax...); nginx forwards the request and relays the 4xx;
    - over an HTTP/1.1 upstream, a client that sent no Host (HTTP/1.0 or 0.9)
      gets a request without Host from nginx (``Host $http_host`` is empty),
      which HTTP/1.1 requires a server to refuse.
    """
    if not entry["upstream_status"].startswith("4"):
        return False
    if expect(case.data, DEFAULT_LIMITS, one_per_connection=False).error is not None:
        return True
    sent_host = re.search(rb"\r\nhost:", case.data, re.IGNORECASE) is not None
    return stack.mode == "keepalive" and not sent_host


@pytest.mark.parametrize("stack_key", STACKS, ids=[f"{k}-{m}" for k, m in STACKS])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_nginx_and_workhorse_agree(case, stack_key, stacks):
    stack = stacks[stack_key]
    nginx, records = stack.nginx, stack.records
    entries_before = len(nginx.access_entries())
    mark = records.mark()

    result = exchange(nginx.port, case.data, half_close=True, timeout=10)
    path, status, body = stack.marker()

    entries = nginx.wait_access_entries(entries_before + 1)[entries_before:]
    seen = records.since(mark)
    context = (f"{case_id(case)} via nginx ({stack.mode}) to {stack.kind}: client got "
               f"{result.received[:200]!r}; nginx logged (request, status, upstream status) "
               f"{_brief(entries)}; app saw {[_app_request(r) for r in seen]}")
    assert status == 200 and body == b"ok 0", "the marker after the case failed: " + context
    assert seen and seen[-1]["target"] == path, context
    assert entries[-1]["request"].startswith(f"GET {path} "), context
    seen, entries = seen[:-1], entries[:-1]

    forwarded = [e for e in entries if e["upstream_status"] not in ("", "-")]
    refused = [e for e in forwarded if not e["upstream_status"].startswith("2")]
    assert all(_may_refuse(case, stack, e) for e in refused), \
        "workhorse refused a request nginx forwarded: " + context
    answered = [_request_of(e) for e in forwarded if e["upstream_status"].startswith("2")]
    if stack.kind == "asgi":
        answered = [_asgi_visible(request) for request in answered]
    assert [_app_request(r) for r in seen] == answered, context
    # Hence a /smuggled request reaches the app only where nginx itself parsed it as
    # a request of its client (nginx accepts an LF-terminated chunk size, for one).
    for record in seen:
        if "smuggled" in record["target"].lower():
            assert _app_request(record) in answered, context
