"""The direction of dependencies between the packages stays as designed.

See docs/architecture.md: the HTTP core and the scoreboard import nothing
else of workhorse; the master never imports a worker's I/O loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "workhorse"

#: package -> workhorse packages/modules it must never import.
FORBIDDEN = {
    "http": {"*"},
    "scoreboard": {"*"},
    "config": {"http", "wsgi", "workers", "master", "scoreboard", "observe", "logs",
               "listeners", "cli"},
    "logs": {"http", "wsgi", "workers", "master", "scoreboard", "observe", "listeners", "cli"},
    "wsgi": {"workers", "master", "observe", "cli"},
    "observe": {"workers", "master", "wsgi", "cli"},
    "workers": {"master", "observe", "cli"},
    "master": {"workers.sync", "workers.gthread", "workers.handler", "workers.serving",
               "workers.connection", "cli"},
}
#: What a package may import even though its pattern forbids everything.
ALLOWED_SELF = {"http": "http", "scoreboard": "scoreboard"}


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


def violations(package: str) -> list[str]:
    rules = FORBIDDEN[package]
    problems = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for target in imports_of(path):
            if "*" in rules:
                if not target.startswith(ALLOWED_SELF[package] + "."):
                    problems.append(f"{path.relative_to(PACKAGE)} imports workhorse.{target}")
                continue
            for banned in rules:
                if target == banned or target.startswith(banned + "."):
                    problems.append(f"{path.relative_to(PACKAGE)} imports workhorse.{target}")
    return problems


def test_every_package_has_rules() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(FORBIDDEN), packages - set(FORBIDDEN)


def test_dependencies_point_one_way() -> None:
    problems = [problem for package in FORBIDDEN if (PACKAGE / package).exists()
                for problem in violations(package)]
    assert problems == []
