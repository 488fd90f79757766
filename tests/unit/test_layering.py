"""The direction of dependencies between the packages stays as designed.

See docs/architecture.md: the HTTP core and the scoreboard import nothing
else of workhorse; the master never imports a worker's I/O loop; the ASGI
protocol core uses the HTTP core and the WSGI side's shared rules (trust,
listener policy, the app loader) and nothing that owns a socket or a process.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "workhorse"

#: package -> workhorse packages/modules it must never import.
FORBIDDEN = {
    "http": {"*"},
    "scoreboard": {"*"},
    "config": {"http", "wsgi", "asgi", "workers", "master", "scoreboard", "observe", "logs",
               "listeners", "cli"},
    "logs": {"http", "wsgi", "asgi", "workers", "master", "scoreboard", "observe", "listeners",
             "cli"},
    "wsgi": {"workers", "master", "observe", "cli", "asgi"},
    "asgi": {"wsgi", "workers", "master", "observe", "scoreboard", "logs", "config",
             "listeners", "handoff", "cli"},
    "observe": {"workers", "master", "wsgi", "asgi", "cli"},
    "workers": {"master", "observe", "cli"},
    "master": {"workers.sync", "workers.gthread", "workers.handler", "workers.serving",
               "workers.connection", "workers.hook_objects", "workers.identity",
               "workers.tls", "workers.asgi", "workers.asgi_connection",
               "workers.loop_watch", "workers.loop_pulse", "workers.gevent",
               "workers.gevent_connection", "workers.gevent_tls", "asgi", "cli"},
}
#: What a package may import even though its pattern forbids everything.
ALLOWED_SELF = {"http": "http", "scoreboard": "scoreboard"}
#: Modules a package may import inside a package its rules forbid.
ALLOWED_INSIDE = {"asgi": {"wsgi.trust", "wsgi.environ", "wsgi.loader"}}
#: Modules at the top of the package that must import nothing else of workhorse.
STANDALONE_MODULES = ("handoff", "ipnets")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name[len("workhorse."):] for name in found if name.startswith("workhorse.")}


def forbidden(package: str, target: str) -> bool:
    """May ``package`` not import ``workhorse.<target>``?"""
    rules = FORBIDDEN[package]
    if "*" in rules:
        return not target.startswith(ALLOWED_SELF[package] + ".")
    if any(target == ok or target.startswith(ok + ".") for ok in ALLOWED_INSIDE.get(package, ())):
        return False
    return any(target == banned or target.startswith(banned + ".") for banned in rules)


def violations(package: str) -> list[str]:
    return [f"{path.relative_to(PACKAGE)} imports workhorse.{target}"
            for path in sorted((PACKAGE / package).rglob("*.py"))
            for target in sorted(imports_of(path)) if forbidden(package, target)]


def test_every_package_has_rules() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(FORBIDDEN), packages - set(FORBIDDEN)


def test_dependencies_point_one_way() -> None:
    problems = [problem for package in FORBIDDEN if (PACKAGE / package).exists()
                for problem in violations(package)]
    assert problems == []


def test_standalone_modules_import_nothing_of_workhorse() -> None:
    for name in STANDALONE_MODULES:
        assert imports_of(PACKAGE / f"{name}.py") == set(), name


# --- the list in docs/architecture.md -------------------------------------------------

ARCHITECTURE = PACKAGE.parents[1] / "docs" / "architecture.md"
DOC_LINE = re.compile(r"^- `(\w+)` imports (nothing|.+)\.$")
#: Names of the package root (version, server name): not a part of the architecture.
ROOT_NAMES = {"__version__", "SERVER_SOFTWARE"}


def actual_dependencies() -> dict[str, set[str]]:
    """Each top-level package or module -> the other parts of workhorse it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if part in ("__init__", "__main__"):
            continue
        deps = found.setdefault(part, set())
        for target in imports_of(path):
            top = target.split(".")[0]
            if top != part and top not in ROOT_NAMES:
                deps.add(top)
    return found


def documented_dependencies() -> dict[str, set[str]]:
    text = ARCHITECTURE.read_text()
    section = text.split("## Direction of dependencies", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, set[str]] = {}
    for line in section.splitlines():
        match = DOC_LINE.match(line.strip())
        if match:
            names = match.group(2)
            listed[match.group(1)] = (set() if names == "nothing"
                                      else set(re.findall(r"`(\w+)`", names)))
    return listed


def test_the_documented_dependency_list_is_the_code():
    assert documented_dependencies() == actual_dependencies()
def test_the_asgi_core_stays_a_protocol_core() -> None:
    # The exceptions let the shared rules in and nothing else of wsgi.
    assert not forbidden("asgi", "wsgi.trust.TrustedPeers")
    assert not forbidden("asgi", "http.writer")
    assert forbidden("asgi", "wsgi.response")
    assert forbidden("asgi", "workers.serving")
    assert forbidden("asgi", "scoreboard")
    assert forbidden("wsgi", "asgi.scope")
    assert forbidden("master", "asgi")
