"""``wsgi.file_wrapper``: lets an app hand over a file for zero-copy sending.

Strategy: the wrapper is an ordinary iterable (so middleware that iterates
it still works), and it remembers the file so the worker can recognise it and
send a regular file with ``sendfile(2)`` on a plain (non-TLS) socket.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import IO, Any

DEFAULT_BLOCK_SIZE = 8192


class FileWrapper:
    def __init__(self, filelike: IO[bytes] | Any, blksize: int = DEFAULT_BLOCK_SIZE) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.filelike.read(self.blksize)
            if not data:
                return
            yield data

    def sendfile_span(self) -> tuple[int, int, int] | None:
        """(fd, offset, count) when the file can go out with sendfile(2), else None."""
        fileno = getattr(self.filelike, "fileno", None)
        if fileno is None:
            return None
        try:
            fd = fileno()
            info = os.fstat(fd)
            offset = self.filelike.tell() if hasattr(self.filelike, "tell") else 0
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return fd, offset, max(0, info.st_size - offset)
