#!/usr/bin/env python3
"""Which of a preloaded Django app's pages a worker copies, and which objects live on them.

    .venv/bin/python django_pages.py                     # 2,000 requests in the worker
    .venv/bin/python django_pages.py --warm              # the same after warm-up requests
                                                         # in the parent (then connections closed)
    .venv/bin/python django_pages.py --no-collect        # freeze without gc.collect() first
    .venv/bin/python django_pages.py --no-freeze         # neither, as Gunicorn and uWSGI

Needs root (page frame numbers in /proc/PID/pagemap). No server: the process
loads benchsite.wsgi as a --preload master does, records every object it can
reach (address, size, type), calls gc.collect() and gc.freeze() as workhorse's
master does, then forks twice: A does nothing (the master's pages as they
were at the fork), B logs in to the admin and serves --requests requests
through the WSGI callable (harness/django_site.py's mix). Then for every page
of B's private writable mappings: the same frame as A's (still shared), a
different one (B wrote it: copied), or absent from A (B allocated it). A
copied page is charged to the objects whose headers lie on it, by type.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import re
import sys
import tempfile
from array import array
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import django_site, smaps

PAGE = os.sysconf("SC_PAGE_SIZE")
PFN_MASK = (1 << 55) - 1
PRESENT = 1 << 63
MiB = 1024 * 1024


def call(app, method: str, path: str, cookie: str = "", body: bytes = b""):
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/x-www-form-urlencoded",
    }
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    got: dict[str, object] = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, headers

    result = app(environ, start_response)
    try:
        data = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return str(got["status"]), list(got["headers"]), data  # type: ignore[call-overload]


def login(app) -> str:
    status, headers, page = call(app, "GET", "/admin/login/")
    cookies = dict(v.strip().split(";")[0].split("=", 1) for k, v in headers if k == "Set-Cookie")
    csrf = cookies["csrftoken"]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = (f"csrfmiddlewaretoken={token}&username={django_site.ADMIN_USER}"
            f"&password={django_site.ADMIN_PASSWORD}&next=/admin/").encode()
    status, headers, _ = call(app, "POST", "/admin/login/", f"csrftoken={csrf}", form)
    cookies = dict(v.strip().split(";")[0].split("=", 1) for k, v in headers if k == "Set-Cookie")
    assert status.startswith("302"), status
    return f"csrftoken={csrf}; sessionid={cookies['sessionid']}"


def serve(app, count: int) -> Counter[str]:
    statuses: Counter[str] = Counter()
    if count == 0:
        return statuses
    cookie = login(app)
    for path, auth in django_site.paths(count):
        statuses[call(app, "GET", path, cookie if auth else "")[0][:3]] += 1
    return statuses


def record_objects() -> tuple[array, array, list[str]]:
    """(addresses, sizes, type index per object): every tracked object and its direct referents."""
    seen: set[int] = set()
    addrs, sizes, kinds = array("Q"), array("Q"), array("H")
    names: dict[str, int] = {}
    todo = gc.get_objects()
    for obj in list(todo):
        todo.extend(o for o in gc.get_referents(obj) if not gc.is_tracked(o))
        code = getattr(obj, "__code__", None)
        if code is not None:
            todo.append(code)
            todo.extend(code.co_consts)
    for obj in todo:
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        name = type(obj).__name__
        addrs.append(id(obj))
        sizes.append(sys.getsizeof(obj, 0))
        kinds.append(names.setdefault(name, len(names)))
    del todo
    return addrs, sizes, kinds, list(names)  # type: ignore[return-value]


def frames(pid: int, start: int, end: int) -> array:
    out = array("Q")
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        out.frombytes(f.read((end - start) // PAGE * 8))
    return out


def compare(a: int, b: int) -> tuple[dict[str, Counter[str]], set[int]]:
    """Per mapping kind of B: pages shared with A, copied, new; and the copied pages."""
    per_kind: dict[str, Counter[str]] = {}
    copied: set[int] = set()
    for m in smaps.mappings(b):
        if "w" not in m.perms or m.perms[3] == "s":
            continue
        fb, fa = frames(b, m.start, m.end), frames(a, m.start, m.end)
        c = per_kind.setdefault(m.kind, Counter())
        for i, vb in enumerate(fb):
            if not vb & PRESENT:
                continue
            va = fa[i] if i < len(fa) else 0
            if va & PRESENT and (va & PFN_MASK) == (vb & PFN_MASK):
                c["shared"] += 1
            elif va & PRESENT:
                c["copied"] += 1
                copied.add(m.start // PAGE + i)
            else:
                c["new"] += 1
    return per_kind, copied


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--warm", action="store_true", help="warm-up requests in the parent first")
    p.add_argument("--no-collect", action="store_true")
    p.add_argument("--no-freeze", action="store_true",
                   help="neither gc.collect() nor gc.freeze() before the fork (Gunicorn, uWSGI)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wh-pages-"))
    sys.path.insert(0, str(django_site.PROJECT))
    os.environ["BENCH_DJANGO_DB"] = str(tmp / "db.sqlite3")
    django_site.make_database(Path(sys.executable), tmp / "db.sqlite3", dict(os.environ))
    from benchsite.wsgi import application as app

    if args.warm:
        warm_up(app)
    if not (args.no_collect or args.no_freeze):
        gc.collect()
    addrs, sizes, kinds, names = record_objects()
    if not args.no_freeze:
        gc.freeze()
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    a = os.fork()
    if a == 0:
        os.read(go_r, 1)
        os._exit(0)
    b = os.fork()
    if b == 0:
        try:
            before = [g["collections"] for g in gc.get_stats()]
            statuses = dict(serve(app, args.requests))
            runs = [g["collections"] - n for g, n in zip(gc.get_stats(), before, strict=True)]
            said = f"{statuses}; collections of generations 0/1/2 while serving: {runs}"
        except BaseException as exc:  # the parent must hear of it, and this child not go on
            said = f"FAILED: {exc!r}"
        os.write(done_w, said.encode())
        os.read(go_r, 1)
        os._exit(0)
    print("worker statuses:", os.read(done_r, 1000).decode())
    per_kind, copied = compare(a, b)
    report(per_kind, copied, addrs, sizes, kinds, names, b)
    os.write(go_w, b"xx")
    os.waitpid(a, 0)
    os.waitpid(b, 0)
    return 0


def warm_up(app) -> None:
    """What --warm does: one request per kind of page, then no connection left open."""
    from django.db import connections

    for path, _auth in django_site.paths(50, seed=1):
        call(app, "GET", path)
    connections.close_all()


def report(per_kind: dict[str, Counter[str]], copied: set[int], addrs: array, sizes: array,
           kinds: array, names: list[str], b: int) -> None:
    print("\nB's private writable pages, by mapping (MiB): shared with A / copied / new")
    for kind, c in sorted(per_kind.items(), key=lambda kv: -kv[1]["copied"]):
        print(f"  {kind:70} {c['shared'] * PAGE / MiB:7.1f} {c['copied'] * PAGE / MiB:7.1f} "
              f"{c['new'] * PAGE / MiB:7.1f}")
    rollup = smaps.rollup(b)
    print(f"B: Private_Dirty {rollup.get('Private_Dirty', 0) / 1024:.1f} MiB, "
          f"Pss {rollup.get('Pss', 0) / 1024:.1f} MiB")
    by_type: dict[str, list[int]] = {}
    pages_with_objects: set[int] = set()
    page_types: dict[int, set[int]] = {}
    for addr, size, kind in zip(addrs, sizes, kinds, strict=True):
        page = addr // PAGE
        row = by_type.setdefault(names[kind], [0, 0, 0, 0])
        row[0] += 1
        row[1] += size
        pages_with_objects.add(page)
        if page in copied:
            row[2] += 1
            row[3] += size
            page_types.setdefault(page, set()).add(kind)
    print("\nobjects the parent had, by type: count, MiB, and the share whose page B copied")
    print(f"  {'type':28} {'objects':>9} {'MiB':>7} {'on copied pages':>16}")
    for name, (n, size, nc, sc) in sorted(by_type.items(), key=lambda kv: -kv[1][1])[:25]:
        print(f"  {name:28} {n:9} {size / MiB:7.1f} {100 * nc / n:9.0f}% objs {sc / MiB:5.1f} MiB")
    lonely = len(copied - pages_with_objects)
    print(f"\ncopied pages: {len(copied) * PAGE / MiB:.1f} MiB; of them "
          f"{lonely * PAGE / MiB:.1f} MiB hold no recorded object header (dict and set tables, "
          "list arrays, allocator free space and metadata, C-level state)")
    only = Counter()
    for ks in page_types.values():
        if len(ks) == 1:
            only[names[next(iter(ks))]] += 1
    print("copied pages holding objects of a single type: "
          + ", ".join(f"{n} {c * PAGE / MiB:.1f} MiB" for n, c in only.most_common(8)))


if __name__ == "__main__":
    sys.exit(main())
