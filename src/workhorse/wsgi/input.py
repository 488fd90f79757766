"""``wsgi.input``: the request body as a file-like object.

Strategy: the reader pulls decoded body bytes on demand from a *source*
supplied by the worker's connection driver (which receives from the socket
and runs the HTTP core), so the body is never read ahead of what the app
asks for, a ``Content-Length`` or chunked body reads the same way, and the
end of the body is always reported as ``b""`` (``wsgi.input_terminated``).
A request that has no body gets the shared :data:`EMPTY_INPUT`, which costs
nothing per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

#: Read size used when the app asks for "everything" or for a line: large
#: enough to need few calls, small enough not to matter for memory.
CHUNK = 65536


class RequestBody:
    """The body of one request. ``source()`` returns the next bytes, b"" at the end."""

    __slots__ = ("_buffer", "_done", "_source", "bytes_read")

    def __init__(self, source: Callable[[], bytes]) -> None:
        self._source = source
        self._buffer = bytearray()
        self._done = False
        self.bytes_read = 0

    def _fill(self) -> bool:
        """Pull one more piece into the buffer; False at the end of the body."""
        if self._done:
            return False
        data = self._source()
        if not data:
            self._done = True
            return False
        self.bytes_read += len(data)
        self._buffer += data
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(min(size, len(self._buffer)))

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        start = 0
        while True:
            newline = self._buffer.find(b"\n", start)
            if newline != -1:
                end = newline + 1
                break
            if 0 <= limit <= len(self._buffer):
                end = limit
                break
            start = len(self._buffer)
            if not self._fill():
                end = len(self._buffer)
                break
        if 0 <= limit < end:
            end = limit
        return self._take(end)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def drain(self, limit: int) -> bool:
        """Read and drop what the app left unread, up to ``limit`` bytes.

        Returns True when the body was consumed to its end, so the connection
        can be kept alive for the next request.
        """
        self._buffer.clear()
        dropped = 0
        while dropped <= limit:
            if self._done:
                return True
            before = self.bytes_read
            if not self._fill():
                return True
            dropped += self.bytes_read - before
            self._buffer.clear()
        return False

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def close(self) -> None:
        """File-like close; the connection driver owns the real stream."""


class EmptyBody:
    """The body of a request that has none."""

    __slots__ = ()
    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        return b""

    def readline(self, size: int | None = -1) -> bytes:
        return b""

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return []

    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def drain(self, limit: int) -> bool:
        return True

    def close(self) -> None:
        pass


EMPTY_INPUT = EmptyBody()
