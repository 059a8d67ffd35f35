"""The views of a comparison of two reports (``policycheck diff``): Markdown and JSON."""

import json
from typing import Any

from policycheck.render.markdown import cell, code, table
from policycheck.report.diff import SECTIONS


def render_diff_markdown(changes: dict[str, Any]) -> str:
    """The changes as Markdown: coverage lost first, then each section, then waivers."""
    parts = ["# policycheck diff: what changed between two reports", ""]
    if changes["coverage_lost"]:
        parts += [
            f"## Coverage lost ({len(changes['coverage_lost'])})",
            "",
            "NEW assesses less than OLD; what it left out is not compared, never resolved.",
            "",
            *(f"- {cell(line)}" for line in changes["coverage_lost"]),
            "",
        ]
    for key, title in SECTIONS:
        rows = [
            [
                cell(e["environment"]),
                code(e["check_id"]),
                code(e["resource"]),
                cell(e["was"] or "—"),
                cell(e["status"]),
                cell(e["message"]),
            ]
            for e in changes[key]
        ]
        parts += [f"## {title} ({len(rows)})", ""]
        parts += [
            table(rows, ["Environment", "Check", "Resource", "Was", "Now", "Message"])
            if rows
            else "None.",
            "",
        ]
    rows = [
        [
            cell(w["ticket"]),
            code(w["check_id"]),
            cell(w["environment"]),
            cell(w["resource"]),
            cell(w["was"] or "—"),
            cell(w["now"] or "—"),
        ]
        for w in changes["waiver_changes"]
    ]
    parts += [f"## Waiver changes ({len(rows)})", ""]
    parts += [
        table(rows, ["Ticket", "Check", "Environment", "Resource", "Was", "Now"])
        if rows
        else "None.",
        "",
    ]
    return "\n".join(parts)


def render_diff_json(changes: dict[str, Any]) -> str:
    """The changes as indented JSON."""
    return json.dumps(changes, indent=2) + "\n"
