"""Gunicorn's settings, exercised on a real server (one behaviour per test)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import requests

from support import APPS, REPO, alive, children_of, free_port, raw_request, wait_for


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(APPS), **(env or {})}
    return subprocess.run([sys.executable, "-m", "workhorse", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd or REPO, timeout=timeout)


# --- the command line and the config file ------------------------------------------

def test_unknown_flag_is_a_usage_error():
    result = run_cli("--wrokers", "2", "testapp:app")
    assert result.returncode == 2
    assert "unrecognized arguments: --wrokers" in result.stderr


def test_bad_value_names_the_setting_and_what_is_accepted():
    result = run_cli("-w", "many", "testapp:app")
    assert result.returncode in (1, 2)
    assert "workers" in result.stderr and "many" in result.stderr
    assert "integer" in result.stderr


def test_unsupported_worker_class_is_refused_clearly():
    result = run_cli("-k", "tornado", "testapp:app")
    assert result.returncode != 0
    assert "tornado" in result.stderr and "sync, gthread" in result.stderr


def test_config_file_error_names_file_and_line(tmp_path):
    config = tmp_path / "gunicorn.conf.py"
    config.write_text("workers = 2\nbind = [\n")
    result = run_cli("testapp:app", cwd=tmp_path)
    assert result.returncode == 1
    assert "gunicorn.conf.py" in result.stderr and "line" in result.stderr


def test_print_config_and_precedence(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("workers = 3\ntimeout = 7\nkeepalive = 9\n")
    result = run_cli("--print-config", "--keep-alive", "4", "testapp:app", cwd=tmp_path,
                     env={"GUNICORN_CMD_ARGS": "--timeout 8 --keep-alive 5",
                          "WEB_CONCURRENCY": "5"})
    assert result.returncode == 0, result.stderr
    lines = {name.strip(): value.strip() for name, _, value in
             (line.partition(" = ") for line in result.stdout.splitlines()) if value}
    assert lines["workers"].strip() == "3"  # file over WEB_CONCURRENCY
    assert lines["timeout"].strip() in ("8", "8.0")  # GUNICORN_CMD_ARGS over file
    assert lines["keepalive"].strip() in ("4", "4.0")  # command line over everything


def test_check_config(tmp_path):
    assert run_cli("--check-config", "testapp:app").returncode == 0
    broken = run_cli("--check-config", "broken_import:app")
    assert broken.returncode == 1
    assert "simulated: cannot import name" in broken.stderr


def test_missing_app_module_says_what_failed(tmp_path):
    result = run_cli("--check-config", "no_such_module_here:app")
    assert result.returncode == 1
    assert "No module named 'no_such_module_here'" in result.stderr
    attr = run_cli("--check-config", "testapp:nothing")
    assert "Failed to find attribute 'nothing' in 'testapp'" in attr.stderr


def test_port_and_web_concurrency_from_the_environment(server_factory):
    port = free_port()
    server = server_factory(["testapp:app"], port=port,
                            env={"PORT": str(port), "WEB_CONCURRENCY": "3"}, wait=False)
    server.args = [a for a in server.args]
    server.wait_ready()
    wait_for(lambda: len(server.workers()) == 3, message="3 workers from WEB_CONCURRENCY")


def test_workhorse_cmd_args(server_factory):
    server = server_factory(["testapp:app"], env={"WORKHORSE_CMD_ARGS": "-w 2"})
    wait_for(lambda: len(server.workers()) == 2)


# --- process setup --------------------------------------------------------------

def test_chdir_pythonpath_and_raw_env(server_factory, tmp_path):
    project = tmp_path / "project"
    libs = tmp_path / "libs"
    project.mkdir()
    libs.mkdir()
    (libs / "libapp.py").write_text(textwrap.dedent('''\
        import os
        def app(environ, start_response):
            start_response("200 OK", [])
            return [f"{os.getcwd()}|{os.environ.get('GREETING')}".encode()]
    '''))
    server = server_factory(["--chdir", str(project), "--pythonpath", str(libs),
                             "-e", "GREETING=hello", "libapp:app"])
    cwd, greeting = requests.get(server.url + "/", timeout=5).text.split("|")
    assert cwd == str(project)
    assert greeting == "hello"


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_user_and_group_are_dropped_before_the_app_loads(server_factory, request):
    # The app imports only what the worker already has: the Python install
    # itself may not be readable by nobody (here it lives under /root).
    project = Path(tempfile.mkdtemp(prefix="workhorse-nobody-"))  # a path nobody can reach
    project.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(project, ignore_errors=True))
    (project / "whoapp.py").write_text(textwrap.dedent('''\
        import os
        LOADED_AS = (os.getuid(), os.getgid())
        def app(environ, start_response):
            start_response("200 OK", [])
            return [f"{LOADED_AS}|{(os.getuid(), os.getgid())}".encode()]
    '''))
    server = server_factory(["-u", "nobody", "-g", "nogroup", "whoapp:app"], cwd=project)
    loaded_as, serving_as = requests.get(server.url + "/", timeout=5).text.split("|")
    assert loaded_as == serving_as == "(65534, 65534)"


def test_umask_applies_to_the_unix_socket(server_factory, tmp_path):
    path = tmp_path / "app.sock"
    server_factory(["-b", f"unix:{path}", "-m", "007", "testapp:app"], wait=False)
    wait_for(path.exists)
    assert stat.S_IMODE(path.stat().st_mode) == 0o770


def test_capture_output_sends_print_to_the_error_log(server_factory, tmp_path):
    errors = tmp_path / "error.log"
    server = server_factory(["--capture-output", "--error-logfile", str(errors),
                             "testapp:app"], log_path=tmp_path / "console.log")
    requests.get(server.url + "/print", timeout=5)
    wait_for(lambda: errors.exists() and "printed-by-app" in errors.read_text())


def test_logconfig_dict_reconfigures_gunicorn_error(server_factory, tmp_path):
    config = tmp_path / "log.conf.py"
    config.write_text(textwrap.dedent('''\
        logconfig_dict = {
            "version": 1,
            "formatters": {"tagged": {"format": "TAGGED %(levelname)s %(message)s"}},
            "handlers": {"console": {"class": "logging.StreamHandler",
                                     "formatter": "tagged",
                                     "stream": "ext://sys.stderr"}},
            "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["console"],
                                           "propagate": False}},
            "root": {"level": "WARNING", "handlers": []},
        }
    '''))
    server = server_factory(["-c", str(config), "testapp:app"])
    wait_for(lambda: "TAGGED INFO Listening at" in server.log())


def test_daemon_with_pidfile(tmp_path):
    pidfile = tmp_path / "wh.pid"
    port = free_port()
    result = run_cli("-D", "-p", str(pidfile), "-b", f"127.0.0.1:{port}", "testapp:app",
                     "--error-logfile", str(tmp_path / "error.log"), cwd=tmp_path)
    assert result.returncode == 0
    pid = wait_for(lambda: pidfile.exists() and int(pidfile.read_text() or 0), 15)
    workers: list[int] = []
    try:
        wait_for(lambda: raw_request(port, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200"),
                 15, message="the daemon serving")
        workers = children_of(pid)
        assert os.getsid(pid) != os.getsid(0)  # detached into a session of its own
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not alive(pid), 15, message="the daemon to stop")
        for worker in workers:
            wait_for(lambda w=worker: not alive(w))
    assert not pidfile.exists()


def test_reload_restarts_workers_on_code_change(server_factory, tmp_path):
    app = tmp_path / "editme.py"
    app.write_text("def app(environ, start_response):\n"
                   "    start_response('200 OK', [])\n    return [b'before']\n")
    server = server_factory(["--reload", "editme:app"], cwd=tmp_path)
    assert requests.get(server.url + "/", timeout=5).text == "before"
    time.sleep(1.1)  # mtime granularity: the edit must not share the import's timestamp
    app.write_text("def app(environ, start_response):\n"
                   "    start_response('200 OK', [])\n    return [b'after']\n")
    wait_for(lambda: requests.get(server.url + "/", timeout=5).text == "after", 15,
             message="the reloaded code")
    assert "Worker reloading:" in server.log()


# --- listeners ---------------------------------------------------------------------

def test_ipv6_bind(server_factory):
    port = free_port()
    server = server_factory(["-b", f"[::1]:{port}", "testapp:app"], port=port, wait=False)

    def answer() -> bytes:
        try:
            with socket.create_connection(("::1", port), timeout=2) as sock:
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return sock.recv(100)
        except OSError:
            return b""

    assert wait_for(answer).startswith(b"HTTP/1.1 200")
    assert server.proc is not None


def test_fd_bind(server_factory):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    server = server_factory(["-b", f"fd://{fd}", "testapp:app"], port=port, wait=False,
                            pass_fds=(fd,))
    listener.close()
    server.wait_ready()


def test_systemd_socket_activation_and_notify(server_factory, tmp_path):
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(15)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    # A wrapper puts the listener on fd 3 and names its own pid, as systemd does,
    # then becomes workhorse (exec keeps the pid).
    wrapper = tmp_path / "activate.py"
    wrapper.write_text(textwrap.dedent(f'''\
        import os, sys
        os.dup2({listener.fileno()}, 3)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())
        os.execv(sys.executable, [sys.executable, "-m", "workhorse", "testapp:app"])
    '''))
    os.set_inheritable(listener.fileno(), True)
    server = server_factory([], port=port, wait=False, bind=False,
                            command=[sys.executable, str(wrapper)],
                            env={"NOTIFY_SOCKET": str(notify_path)},
                            pass_fds=(listener.fileno(),))
    listener.close()
    server.wait_ready()
    messages = [notify.recv(4096).decode() for _ in range(1)]
    assert any("READY=1" in m for m in messages)
    server.signal(signal.SIGTERM)
    server.wait_exit(15)
    assert "STOPPING=1" in notify.recv(4096).decode()
    notify.close()


# --- protocol options ---------------------------------------------------------------

def test_limit_request_body(server_factory):
    server = server_factory(["--limit-request-body", "100", "testapp:app"])
    assert requests.post(server.url + "/echo", data=b"x" * 100, timeout=5).status_code == 200
    assert requests.post(server.url + "/echo", data=b"x" * 101, timeout=5).status_code == 413


@pytest.mark.parametrize("kind", ["sync", "gthread"])
def test_proxy_protocol_sets_remote_addr(server_factory, kind):
    server = server_factory(["-k", kind, "--proxy-protocol", "--proxy-allow-from", "127.0.0.1",
                             "testapp:app"])
    assert raw_request(server.port, b"PROXY UNKNOWN\r\nGET / HTTP/1.0\r\n\r\n") \
        .startswith(b"HTTP/1.1 200")
    raw = raw_request(server.port, b"PROXY TCP4 203.0.113.7 192.0.2.1 4567 443\r\n"
                      b"GET /environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    env = json.loads(raw.partition(b"\r\n\r\n")[2])
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert env["REMOTE_PORT"] == "4567"
    garbage = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize("kind", ["sync", "gthread"])
def test_tls(server_factory, tmp_path, kind):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = server_factory(["-k", kind, "--certfile", str(cert), "--keyfile", str(key),
                             "testapp:app"], wait=False)
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False

    def get(path: str) -> bytes:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                             .encode())
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                return data
        except OSError:
            return b""

    wait_for(lambda: get("/").startswith(b"HTTP/1.1 200"), message="a TLS answer")
    env = json.loads(get("/environ").partition(b"\r\n\r\n")[2])
    assert env["wsgi.url_scheme"] == "https"
    assert len(get("/file?size=200000").partition(b"\r\n\r\n")[2]) == 200000


def test_reuse_port_lets_two_servers_share_a_port(server_factory):
    port = free_port()
    first = server_factory(["--reuse-port", "testapp:app"], port=port)
    second = server_factory(["--reuse-port", "testapp:app"], port=port)
    assert first.proc is not None and second.proc is not None
    assert second.proc.poll() is None


def test_no_sendfile_still_serves_files(server_factory):
    server = server_factory(["--no-sendfile", "testapp:app"])
    assert len(requests.get(server.url + "/file?size=123457", timeout=5).content) == 123457


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def test_tls_client_certificates_required(server_factory, tmp_path):
    """cert_reqs=2 (CERT_REQUIRED) with ca_certs: only clients with a certificate
    signed by that CA get through."""
    ca_key, ca = tmp_path / "ca.key", tmp_path / "ca.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ca",
             "-keyout", str(ca_key), "-out", str(ca))
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert))
    client_key, client_csr, client = (tmp_path / "client.key", tmp_path / "client.csr",
                                      tmp_path / "client.pem")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client",
             "-keyout", str(client_key), "-out", str(client_csr))
    _openssl("x509", "-req", "-in", str(client_csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-out", str(client))
    server = server_factory(["--certfile", str(cert), "--keyfile", str(key),
                             "--ca-certs", str(ca), "--cert-reqs", "2", "testapp:app"],
                            wait=False)

    def get(with_cert: bool) -> bytes:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        if with_cert:
            context.load_cert_chain(str(client), str(client_key))
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                return data
        except OSError:  # ssl.SSLError included: the handshake was refused
            return b""

    assert wait_for(lambda: get(with_cert=True)).startswith(b"HTTP/1.1 200")
    assert get(with_cert=False) == b""


@pytest.mark.parametrize("kind", ["sync", "gthread"])
def test_an_empty_request_id_header_turns_the_header_off(server_factory, kind):
    server = server_factory(["-k", kind, "--request-id-header", "", "testapp:app"])
    answer = requests.get(server.url + "/", headers={"X-Request-ID": "from-proxy"}, timeout=5)
    assert answer.status_code == 200 and "X-Request-ID" not in answer.headers
    broken = requests.get(server.url + "/raise", timeout=5)
    assert broken.status_code == 500 and "X-Request-ID" not in broken.headers
    on = server_factory(["-k", kind, "testapp:app"])
    assert requests.get(on.url + "/", timeout=5).headers["X-Request-ID"]
