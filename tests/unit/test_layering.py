"""The direction of dependencies between the packages stays as designed.

See docs/architecture.md: the HTTP core and the scoreboard import nothing
else of workhorse; the master never imports a worker's I/O loop.
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
    "config": {"http", "wsgi", "workers", "master", "scoreboard", "observe", "logs",
               "listeners", "cli"},
    "logs": {"http", "wsgi", "workers", "master", "scoreboard", "observe", "listeners", "cli"},
    "wsgi": {"workers", "master", "observe", "cli"},
    "observe": {"workers", "master", "wsgi", "cli"},
    "workers": {"master", "observe", "cli"},
    "master": {"workers.sync", "workers.gthread", "workers.handler", "workers.serving",
               "workers.connection", "workers.hook_objects", "workers.identity",
               "workers.tls", "cli"},
}
#: What a package may import even though its pattern forbids everything.
ALLOWED_SELF = {"http": "http", "scoreboard": "scoreboard"}
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
