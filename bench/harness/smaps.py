"""What /proc says about a process's memory: smaps_rollup totals and smaps per mapping.

PSS splits every page among the processes that map it, so summed over the
master and the workers it is the memory the fleet really costs. A page a
worker inherited from the master stays shared until one of them writes it;
then the writer gets a private copy: it moves from Shared_* to Private_Dirty.
So a worker's Private_Dirty is what it learned or touched after the fork (plus
what it allocated), and the per-mapping view says where.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

ROLLUP_KEYS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty",
               "Anonymous", "Swap")
_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$")


def rollup(pid: int) -> dict[str, int]:
    """smaps_rollup's totals (KiB) plus VmRSS; empty when the process is gone."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ROLLUP_KEYS:
                    out[key] = int(rest.split()[0])
    except OSError:
        return {}
    out["Private"] = out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)
    return out


@dataclass
class Mapping:
    start: int
    end: int
    perms: str
    name: str
    fields: dict[str, int]

    @property
    def kind(self) -> str:
        return classify(self)


def mappings(pid: int) -> list[Mapping]:
    found: list[Mapping] = []
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = _HEADER.match(line)
                if head:
                    found.append(Mapping(int(head[1], 16), int(head[2], 16), head[3],
                                         head[4].strip(), {}))
                elif found and ":" in line:
                    key, _, rest = line.partition(":")
                    parts = rest.split()
                    if parts and parts[-1] == "kB":
                        found[-1].fields[key] = int(parts[0])
    except OSError:
        return []
    return found


def classify(m: Mapping) -> str:
    """A label for where a mapping's pages come from."""
    name = m.name
    if name == "[heap]":
        return "[heap]: malloc's brk heap (dict/list storage, large objects)"
    if name.startswith("[stack"):
        return "[stack]"
    if name.startswith("/dev/shm") or "SYSV" in name or "(deleted)" in name or m.perms[3] == "s":
        return "shared memory (scoreboard)"
    if not name:
        if m.perms.startswith("---"):
            return "guard pages"
        return "anonymous rw: pymalloc arenas, large malloc blocks, thread stacks"
    if ".so" in name or "/python3" in name or name.endswith("/python"):
        segment = "code" if "x" in m.perms else ("data (rw)" if "w" in m.perms else "read-only")
        return f"binaries and .so: {segment}"
    if name.startswith("["):
        return name
    return "other files (mmap'd)"


def by_kind(pid: int, keys: tuple[str, ...] = ("Rss", "Pss", "Private_Dirty", "Shared_Clean",
                                                "Shared_Dirty")) -> dict[str, dict[str, int]]:
    """Per label: the sum of each key over its mappings (KiB)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(keys, 0))
    for m in mappings(pid):
        row = out[m.kind]
        for key in keys:
            row[key] += m.fields.get(key, 0)
    return dict(out)


def top_private(pid: int, count: int = 12) -> list[tuple[str, int, int]]:
    """The mappings with the most Private_Dirty: (label with address, size KiB, KiB)."""
    rows = [(f"{m.start:x} {m.name or '(anon)'} [{m.perms}]", (m.end - m.start) // 1024,
             m.fields.get("Private_Dirty", 0)) for m in mappings(pid)]
    rows.sort(key=lambda r: -r[2])
    return rows[:count]
