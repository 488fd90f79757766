"""The direction of dependencies between the packages stays as designed.

See docs/architecture.md: the HTTP core and the scoreboard import nothing
else of workhorse; the master never imports a worker's I/O loop; the ASGI
protocol core uses the HTTP core and the WSGI side's shared rules (trust,
listener policy, the app loader) and nothing that owns a socket or a process.
"""

from __future__ import annotations

import ast
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
    "observe": {"workers", "master", "wsgi", "asgi", "http", "cli"},
    "workers": {"master", "observe", "cli"},
    "master": {"workers.sync", "workers.gthread", "workers.handler", "workers.serving", "asgi",
               "cli"},
}
#: What a package may import even though its pattern forbids everything.
ALLOWED_SELF = {"http": "http", "scoreboard": "scoreboard"}
#: Modules a package may import inside a package its rules forbid.
ALLOWED_INSIDE = {"asgi": {"wsgi.trust", "wsgi.environ", "wsgi.loader"}}


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


def test_the_asgi_core_stays_a_protocol_core() -> None:
    # The exceptions let the shared rules in and nothing else of wsgi.
    assert not forbidden("asgi", "wsgi.trust.TrustedPeers")
    assert not forbidden("asgi", "http.writer")
    assert forbidden("asgi", "wsgi.response")
    assert forbidden("asgi", "workers.serving")
    assert forbidden("asgi", "scoreboard")
    assert forbidden("wsgi", "asgi.scope")
    assert forbidden("master", "asgi")
