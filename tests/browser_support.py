"""A real headless Chromium for the tests, driven over the DevTools protocol.

Strategy: start Debian's ``chromium`` with a fresh, empty profile and
``--remote-debugging-port=0``; it writes the port it chose into the
profile's ``DevToolsActivePort`` file. Open the WebSocket of its first page
with a minimal RFC 6455 client (text frames only, what the protocol uses;
the standard library has no WebSocket client) and send it commands: open a
URL, run an expression in the page and return its JSON value, take a
screenshot, switch scripts off. Events are kept so a test can assert that
the page threw nothing and that its Content-Security-Policy refused nothing.

The browser runs in a session of its own; :meth:`Browser.stop` ends that
process group by the pid this module started, then removes the profile.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from support import alive, wait_for

CHROMIUM = shutil.which("chromium")
#: Headless on a machine with no way out: without the background-networking
#: switches Chromium waits on services it cannot reach; root needs --no-sandbox.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-port=0")
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 30.0


class DevToolsError(Exception):
    """The browser answered a command with an error, or the page threw."""


class WebSocket:
    """Just enough of a WebSocket client for the DevTools protocol (text messages)."""

    def __init__(self, url: str, timeout: float = TIMEOUT) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self._exactly(1)
        expected = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest())
        if not head.startswith(b"HTTP/1.1 101") or expected not in head:
            raise DevToolsError(f"WebSocket handshake refused: {head[:200]!r}")

    def send(self, text: str) -> None:
        payload = text.encode()
        size = len(payload)
        if size < 126:
            header = bytes([0x81, 0x80 | size])
        elif size < 65536:
            header = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
        else:
            header = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
        mask = os.urandom(4)  # a client must mask what it sends
        key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
        masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")
        self.sock.sendall(header + mask + masked)

    def receive(self) -> str:
        """The next text message (pings are answered, fragments joined)."""
        parts: list[bytes] = []
        while True:
            first, second = self._exactly(2)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(self._exactly(2), "big")
            elif size == 127:
                size = int.from_bytes(self._exactly(8), "big")
            payload = self._exactly(size)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise DevToolsError("the browser closed the DevTools connection")
            if opcode == 0x9:
                self._pong(payload)
                continue
            parts.append(payload)
            if first & 0x80:
                return b"".join(parts).decode()

    def _pong(self, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise DevToolsError("the browser closed the DevTools connection")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


class Browser:
    """One headless Chromium with one page, for one test."""

    def __init__(self, log_path: Path) -> None:
        assert CHROMIUM is not None, "chromium is not installed"
        self.profile = tempfile.mkdtemp(prefix="wh-chromium-")
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.ws: WebSocket | None = None
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def start(self) -> Browser:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        port_file = Path(self.profile) / "DevToolsActivePort"
        text = wait_for(lambda: self._exited() or (port_file.exists() and port_file.read_text()),
                        TIMEOUT, interval=0.05, message="Chromium's DevTools port")
        port = int(text.split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = WebSocket(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        return self

    def _exited(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"chromium exited with {self.proc.returncode}:\n"
                                 + self.log_path.read_text(errors="replace")[-2000:])
        return False

    # --- commands -------------------------------------------------------------------
    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        assert self.ws is not None
        self._next_id += 1
        self.ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def open(self, url: str, *, scripts: bool = True, width: int = 1280,
             height: int = 900) -> None:
        """Load ``url`` (with or without JavaScript) and wait until it has loaded."""
        self.call("Emulation.setScriptExecutionDisabled", value=not scripts)
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        wait_for(lambda: self.evaluate("document.readyState") == "complete"
                 and self.evaluate("location.href") == url, TIMEOUT, interval=0.05,
                 message=f"{url} to load")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page (DevTools runs it even with
        the page's scripts off)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, width: int = 1280) -> None:
        """The whole page as a PNG, ``width`` CSS pixels wide."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def problems(self) -> list[str]:
        """Exceptions the page threw and errors it logged (a refused script or style)."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif event.get("method") == "Log.entryAdded":
                entry = params.get("entry", {})
                if entry.get("level") == "error":
                    found.append(f"{entry.get('source')}: {entry.get('text')}")
            elif (event.get("method") == "Runtime.consoleAPICalled"
                  and params.get("type") == "error"):
                found.append(json.dumps(params.get("args", []))[:500])
        return found

    # --- the end ------------------------------------------------------------------------
    def stop(self) -> None:
        """End the browser's process group (started by us, by its pid) and its profile."""
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.proc is not None:
            pid = self.proc.pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                self.proc.wait(5)
            wait_for(lambda: not _group_members(pid), 10, message="Chromium's processes to end")
            self.proc = None
        shutil.rmtree(self.profile, ignore_errors=True)


def _group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (Chromium's helpers), from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and alive(int(entry)):
            members.append(int(entry))
    return members


def wait_for_page(browser: Browser, expression: str, timeout: float = 15.0,
                  message: str = "") -> Any:
    """Poll ``expression`` in the page until it is truthy; fail after ``timeout``."""
    return wait_for(lambda: browser.evaluate(expression), timeout, interval=0.1,
                    message=message or expression)
