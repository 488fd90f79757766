"""StatsD: the client's wire format, the Logger's Gunicorn metrics, the master's gauges.

The sink is a real UDP (or UNIX datagram) socket bound by the test.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workhorse.logs import AccessRecord, Logger
from workhorse.logs.statsd import StatsdClient, gunicorn_prefix
from workhorse.observe.schema import Snapshot
from workhorse.observe.statsd import StatsdReporter, gauges, listener_key

MakeSnapshot = Callable[[], Snapshot]


class Sink:
    """A StatsD server: a bound datagram socket that collects what arrives."""

    def __init__(self, family: int = socket.AF_INET, path: str = "") -> None:
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind(path or ("127.0.0.1", 0))
        self.sock.settimeout(2)
        self.address = f"unix:{path}" if path else f"127.0.0.1:{self.sock.getsockname()[1]}"

    def take(self, count: int) -> list[str]:
        return [self.sock.recv(65536).decode() for _ in range(count)]

    def pending(self) -> list[str]:
        self.sock.setblocking(False)
        found = []
        try:
            while True:
                found.append(self.sock.recv(65536).decode())
        except BlockingIOError:
            return found
        finally:
            self.sock.settimeout(2)


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.sock.close()


def test_wire_format_of_each_kind(sink: Sink) -> None:
    client = StatsdClient(sink.address)
    client.gauge("gunicorn.workers", 4)
    client.incr("gunicorn.requests")
    client.decr("gunicorn.things", 2)
    client.timing("gunicorn.request.duration", 12.5)
    client.histogram("gunicorn.backlog", 3)
    assert sink.take(5) == [
        "gunicorn.workers:4|g",
        "gunicorn.requests:1|c|@1.0",
        "gunicorn.things:-2|c|@1.0",
        "gunicorn.request.duration:12.5|ms",
        "gunicorn.backlog:3|h",
    ]
    client.close()


def test_prefix_and_dogstatsd_tags(sink: Sink) -> None:
    client = StatsdClient(sink.address, prefix="shop.web", tags="env:prod,canary")
    client.incr("gunicorn.requests")
    assert sink.take(1) == ["shop.web.gunicorn.requests:1|c|@1.0|#env:prod,canary"]
    client.close()


@pytest.mark.parametrize(("given", "used"), [
    ("", ""),
    ("app", "app."),
    ("app.", "app."),
    ("app...", "app."),
    ("my.app", "my.app."),
    (".a", ".a."),
    ("..", ".."),
    ("a", "a"),  # Gunicorn's rule leaves one-character prefixes alone
    ("a.", "a."),
])
def test_prefix_rule_is_gunicorns(given: str, used: str) -> None:
    assert gunicorn_prefix(given) == used


def test_unix_datagram_agent_started_after_the_client(tmp_path: Path) -> None:
    path = str(tmp_path / "statsd.sock")
    client = StatsdClient(f"unix:{path}")
    client.gauge("early", 1)  # nobody there yet: dropped, no error
    agent = Sink(socket.AF_UNIX, path)
    try:
        client.gauge("late", 2)
        assert agent.take(1) == ["late:2|g"]
    finally:
        agent.sock.close()
        client.close()


def test_failures_never_raise() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = StatsdClient(f"127.0.0.1:{port}")  # nobody listens: ICMP refusals come back
    for _ in range(20):
        client.incr("gunicorn.requests")
    client.close()
    client.incr("after.close")
    unusable = StatsdClient("127.0.0.1:99999")
    assert not unusable.active and unusable.error is not None
    unusable.gauge("x", 1)


# --- the Logger --------------------------------------------------------------------------
@dataclasses.dataclass
class LogAndStatsdSettings:
    errorlog: str
    statsd_host: str | None = None
    statsd_prefix: str = ""
    dogstatsd_tags: str = ""
    accesslog: str | None = None
    access_log_format: str = '%(h)s "%(r)s" %(s)s'
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
    user: int = dataclasses.field(default_factory=os.getuid)
    group: int = dataclasses.field(default_factory=os.getgid)


@pytest.fixture
def logger_with(tmp_path: Path) -> Iterator[Callable[..., Logger]]:
    names = ["gunicorn.error", "gunicorn.access"]
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate)
             for name in names}
    made: list[Logger] = []

    def make(**settings: Any) -> Logger:
        log = Logger(LogAndStatsdSettings(errorlog=str(tmp_path / "error.log"), **settings))
        made.append(log)
        return log

    yield make
    for log in made:
        log.close()
    for name, (level, propagate) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).propagate = propagate


def access_record(status: int = 200, duration: float = 0.0125) -> AccessRecord:
    return AccessRecord(
        remote_addr="192.0.2.7", method="GET", path="/a", query="", version="HTTP/1.1",
        request_line="GET /a HTTP/1.1", status=status, reason="OK", response_length=2,
        request_headers=[], response_headers=[], environ={}, start_time=1767225600.0,
        duration=duration, pid=os.getpid(), slot=0, request_id="r1", bytes_received=40,
    )


def test_logger_sends_gunicorns_request_metrics(sink: Sink,
                                                logger_with: Callable[..., Logger]) -> None:
    log = logger_with(statsd_host=sink.address, statsd_prefix="shop")
    assert log.access_log_enabled  # no access log, but the workers must report requests
    log.access(access_record(status=404, duration=0.0125))
    assert sink.take(3) == [
        "shop.gunicorn.request.duration:12.5|ms",
        "shop.gunicorn.requests:1|c|@1.0",
        "shop.gunicorn.request.status.404:1|c|@1.0",
    ]


def test_logger_counts_log_lines_by_level(sink: Sink,
                                          logger_with: Callable[..., Logger]) -> None:
    log = logger_with(statsd_host=sink.address, dogstatsd_tags="env:test")
    log.info("not counted")
    log.debug("not counted")
    log.warning("w")
    log.error("e")
    log.critical("c")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("x")
    assert sink.take(4) == [
        "gunicorn.log.warning:1|c|@1.0|#env:test",
        "gunicorn.log.error:1|c|@1.0|#env:test",
        "gunicorn.log.critical:1|c|@1.0|#env:test",
        "gunicorn.log.exception:1|c|@1.0|#env:test",
    ]
    assert sink.pending() == []


def test_logger_without_statsd_host_sends_nothing(logger_with: Callable[..., Logger]) -> None:
    log = logger_with()
    assert not log.access_log_enabled


def test_logger_reports_an_unusable_statsd_host(logger_with: Callable[..., Logger],
                                                tmp_path: Path) -> None:
    log = logger_with(statsd_host="127.0.0.1:99999")
    assert not log.access_log_enabled
    assert "StatsD metrics are off: statsd_host '127.0.0.1:99999': port '99999'" in (
        tmp_path / "error.log").read_text()


# --- the master's gauges -----------------------------------------------------------------
def test_gauges_of_the_fixture(snapshot: MakeSnapshot) -> None:
    assert gauges(snapshot()) == [
        ("gunicorn.workers", 4),
        ("workhorse.workers.busy", 3),
        ("workhorse.workers.idle", 3),
        ("workhorse.workers.booting", 1),
        ("workhorse.backlog", 3),
        ("workhorse.listen_queue.127_0_0_1_8000", 3),
        ("workhorse.listen_queue_limit.127_0_0_1_8000", 2048),
        ("workhorse.listen_queue.unix_run_shop_app_sock", 0),
        ("workhorse.listen_queue_limit.unix_run_shop_app_sock", 128),
        ("workhorse.request.queue_time", 0.4),
    ]


def test_listener_keys_are_single_name_components() -> None:
    assert listener_key("[::1]:8000") == "1_8000"
    assert listener_key("unix:/run/app.sock") == "unix_run_app_sock"


def test_reporter_sends_once_per_interval_and_gunicorns_backlog_when_enabled(
        sink: Sink, master: Any) -> None:
    client = StatsdClient(sink.address, prefix="shop")
    reporter = StatsdReporter(client, backlog_metric=True)
    reporter.start(master)
    reporter.tick(master, 100.0)
    reporter.tick(master, 100.5)  # within the interval: nothing more
    sent = sink.take(len(gauges(master.current)) + 1)
    assert sent[0] == "shop.gunicorn.workers:4|g"
    assert "shop.workhorse.request.queue_time:0.4|g" in sent
    assert sent[-1] == "shop.gunicorn.backlog:3|h"
    assert sink.pending() == []
    assert reporter.fds() == [client.fileno()]
    reporter.tick(master, 101.0)
    assert len(sink.take(len(sent))) == len(sent)
    reporter.stop(master)
    assert not client.active


def test_reporter_leaves_gunicorns_backlog_out_by_default(sink: Sink, master: Any) -> None:
    reporter = StatsdReporter(StatsdClient(sink.address))
    reporter.tick(master, 1.0)
    sent = sink.take(len(gauges(master.current)))
    assert not any(line.startswith("gunicorn.backlog") for line in sent)
    assert sink.pending() == []
    reporter.stop(master)
