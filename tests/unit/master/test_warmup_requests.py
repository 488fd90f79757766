"""The warm-up's requests: where they go, the environ, and what the guard finds left open."""

from __future__ import annotations

import os
import threading
from typing import Any

from workhorse.master import warmup
from workhorse.wsgi.environ import EnvironBuilder, ListenerInfo

TCP = ListenerInfo(server_name="127.0.0.1", server_port="8000", is_unix=False, is_ssl=False)


def build(listener: ListenerInfo | None = TCP, *, script_name: str = "") -> EnvironBuilder:
    return warmup.builder(listener, script_name=script_name, is_ssl=False, multithread=True,
                          multiprocess=False)


def test_a_path_goes_to_the_first_listener() -> None:
    env = warmup.environ_for("/admin/login/?next=/x", build())
    assert (env["HTTP_HOST"], env["SERVER_NAME"], env["SERVER_PORT"]) == (
        "127.0.0.1:8000", "127.0.0.1", "8000")
    assert (env["PATH_INFO"], env["QUERY_STRING"], env["wsgi.url_scheme"]) == (
        "/admin/login/", "next=/x", "http")
    assert env["RAW_URI"] == "/admin/login/?next=/x"


def test_a_wildcard_or_unix_listener_says_localhost() -> None:
    def host(name: str, port: str, *, unix: bool = False, ssl: bool = False) -> str:
        listener = ListenerInfo(server_name=name, server_port=port, is_unix=unix, is_ssl=ssl)
        return str(warmup.environ_for("/", build(listener))["HTTP_HOST"])

    assert host("0.0.0.0", "80") == "localhost"
    assert host("::", "8000") == "localhost:8000"
    assert host("", "", unix=True, ssl=True) == "localhost"
    assert host("::1", "8000") == "[::1]:8000"
    assert host("10.0.0.1", "443", ssl=True) == "10.0.0.1"
    assert warmup.environ_for("/", build(None))["SERVER_NAME"] == "localhost"


def test_a_url_names_host_and_scheme() -> None:
    env = warmup.environ_for("https://example.com/shop?x=1", build())
    assert (env["HTTP_HOST"], env["wsgi.url_scheme"]) == ("example.com", "https")
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/shop", "x=1")
    # A TCP listener's name and port, as a worker would say for that Host.
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", "8000")


def test_the_environ_is_a_workers_get_without_body() -> None:
    env = warmup.environ_for("/caf%C3%A9", build())
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/café".encode().decode("latin-1")  # WSGI's latin-1 str
    assert env["wsgi.input"].read() == b""
    assert env["wsgi.multithread"] is True and env["wsgi.multiprocess"] is False
    assert env["SERVER_SOFTWARE"].startswith("workhorse") and "wsgi.file_wrapper" in env
    assert env["workhorse.warmup"] is True


def test_root_path_is_the_script_name_as_in_a_worker() -> None:
    env = warmup.environ_for("/app/admin/", build(script_name="/app"))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/admin/")


def test_call_reads_and_closes_the_body() -> None:
    closed = []

    class Body:
        def __iter__(self) -> Any:
            yield b"a"
            yield b"b"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("404 Not Found", [])
        return Body()

    assert warmup.call(app, {}) == 404
    assert closed == [True]


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append("info " + msg % args)

    def warning(self, msg: str, *args: Any) -> None:
        self.lines.append("warning " + msg % args)


def test_a_raising_app_is_logged_not_raised() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ValueError("no")

    log = Log()
    warmup.run(app, ["/"], build(), log)
    assert log.lines[0].startswith("warning Warm-up GET / failed")
    assert "ValueError: no" in log.lines[0]


def test_the_guard_finds_a_file_the_warmup_kept_open() -> None:
    guard = warmup.Guard()
    kept = open(os.devnull, "rb")  # noqa: SIM115 (the point of the test)
    guard.done()
    try:
        assert [f for f in guard.leftovers() if os.devnull in f]
    finally:
        kept.close()
    assert guard.leftovers() == []


def test_the_guard_ignores_what_is_opened_after_the_warmup() -> None:
    guard = warmup.Guard()
    guard.done()
    with open(os.devnull, "rb"):
        assert guard.leftovers() == []


def test_the_guard_finds_a_thread_still_running() -> None:
    stop = threading.Event()
    guard = warmup.Guard()
    thread = threading.Thread(target=stop.wait, name="left-behind")
    thread.start()
    guard.done()
    try:
        assert guard.leftovers() == ["thread 'left-behind'"]
    finally:
        stop.set()
        thread.join()
    assert guard.leftovers() == []
