"""The Grafana dashboard's queries, as the tests read them (contrib/grafana/workhorse.json).

Strategy: collect every PromQL expression the dashboard sends (panel
targets, the annotation, the template variables' ``label_values``), replace
Grafana's variables by what Grafana would send for "All" (``$job`` and
``$instance`` by ``.+``, ``$__rate_interval`` by a duration), and find in
each expression the metric selectors, their label matchers and the labels
it groups by, so a test can hold them against the server's real output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support import REPO

DASHBOARD = REPO / "contrib" / "grafana" / "workhorse.json"
#: Labels Prometheus adds to every scraped series (not in the server's output).
TARGET_LABELS = frozenset({"job", "instance"})
#: What Grafana puts in place of its variables (the "All" value of ours is ".+").
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$job": ".+",
             "$instance": ".+"}

SELECTOR = re.compile(r"\b(workhorse_[a-z0-9_]+)\s*(?:\{([^}]*)\})?")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$")
LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Query:
    where: str  # "panel 9 'Busy ratio' A", "annotation 'Reloads'", "variable instance"
    expr: str  # as the dashboard holds it, with Grafana's variables
    legend: str = ""  # the legend format (labels in {{ }} must be in the result)
    label_values: str = ""  # for a variable: the label whose values it lists

    @property
    def promql(self) -> str:
        """The expression as Prometheus receives it (a variable's as a count by the label)."""
        expr = self.expr
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        if self.label_values:
            selector = LABEL_VALUES.match(expr)
            assert selector, f"{self.where}: not label_values(selector, label): {expr}"
            return f"count by ({self.label_values}) ({selector.group(1)})"
        return expr

    def selectors(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """(metric, [(label, operator, value)]) for every metric selector."""
        return [(name, MATCHER.findall(braces or ""))
                for name, braces in SELECTOR.findall(self.promql)]

    def grouping_labels(self) -> set[str]:
        return {label.strip() for group in GROUPING.findall(self.promql)
                for label in group.split(",") if label.strip()}

    def legend_labels(self) -> set[str]:
        return set(LEGEND_LABEL.findall(self.legend))


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(Path(DASHBOARD).read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found += panel.get("panels", [])
    return found


def queries(dashboard: dict[str, Any]) -> list[Query]:
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            found.append(Query(f"panel {panel['id']} {panel['title']!r} {target['refId']}",
                               target["expr"], target.get("legendFormat", "")))
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            found.append(Query(f"annotation {annotation['name']!r}", annotation["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            expr = variable["query"]["query"]
            match = LABEL_VALUES.match(expr)
            found.append(Query(f"variable {variable['name']}", expr,
                               label_values=match.group(2) if match else "?"))
    return found
