"""The nginx helper itself: valid config, readiness, port retry, and no leaked process."""

from __future__ import annotations

import os
import re
import signal
import socket
from pathlib import Path

import pytest
import requests

from nginx_support import Nginx, require_nginx
from support import alive, wait_for

pytestmark = pytest.mark.nginx


@pytest.mark.parametrize("upstream", ["127.0.0.1:9", "unix:/nonexistent/app.sock"])
def test_config_is_valid_and_uses_only_the_test_directory(upstream: str, tmp_path: Path) -> None:
    nginx = Nginx(upstream, tmp_path / "ng", proxy_read_timeout=2.5, upstream_keepalive=2,
                  pass_request_id=True, tls=True,
                  extra_locations="location /x/ { return 200 'x'; }")
    nginx.check_config()  # nginx -t
    text = nginx.conf_path.read_text()
    for directive in ("pid", "lock_file", "error_log", "access_log", "client_body_temp_path",
                      "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path",
                      "scgi_temp_path", "ssl_certificate", "ssl_certificate_key"):
        values = re.findall(rf"(?:^|[;{{]|\s){directive} ([^;]+);", text)
        assert values, directive
        assert all(str(tmp_path) in value or value == "off" for value in values), values
    assert f"server {upstream} fail_timeout=0;" in text
    assert "proxy_read_timeout 2500ms;" in text
    assert "location /x/ { return 200 'x'; }" in text


def test_upstream_must_be_host_port_or_unix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="upstream must be"):
        Nginx("http://127.0.0.1:80", tmp_path, binary=require_nginx())


def test_start_answers_and_stop_leaves_nothing(tmp_path: Path) -> None:
    nginx = Nginx("127.0.0.1:9", tmp_path / "ng").start()
    try:
        assert nginx.read_pid_file() == nginx.pid
        workers = nginx.worker_pids()
        assert len(workers) == 1
        # No upstream listens on port 9: nginx's own 502, logged with upstream_status.
        assert requests.get(nginx.url + "/", timeout=10).status_code == 502
        entry = nginx.wait_access_entries(1)[0]
        assert (entry["status"], entry["upstream_status"]) == ("502", "502")
    finally:
        nginx.stop()
    assert not alive(nginx.pid)
    assert not any(alive(pid) for pid in workers)


def test_stop_kills_workers_orphaned_by_a_dead_master(tmp_path: Path) -> None:
    nginx = Nginx("127.0.0.1:9", tmp_path / "ng").start()
    workers = nginx.worker_pids()
    os.kill(nginx.pid, signal.SIGKILL)
    wait_for(lambda: nginx.proc is not None and nginx.proc.poll() is not None,
             message="the master to die")
    assert all(alive(pid) for pid in workers)  # nginx workers outlive their master
    nginx.stop()
    assert not any(alive(pid) for pid in workers)


def test_start_moves_to_another_port_when_its_port_was_taken(tmp_path: Path) -> None:
    nginx = Nginx("127.0.0.1:9", tmp_path / "ng")
    taken = nginx.port
    with socket.socket() as squatter:  # what a parallel test could do between choice and bind
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        try:
            nginx.start()
            assert nginx.port != taken
            assert requests.get(nginx.url + "/__nginx_ready", timeout=10).status_code == 204
        finally:
            nginx.stop()


def test_missing_binary_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NGINX", str(tmp_path / "no-nginx-here"))
    with pytest.raises(pytest.skip.Exception, match="no nginx binary"):
        require_nginx()
