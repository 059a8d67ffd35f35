"""What changed between two reports: the nightly audit's drift."""

import json
from typing import Any

from policycheck.render.markdown import cell, table
from policycheck.report import Report, Result

Key = tuple[str, str, str]


def _key(result: Result) -> Key:
    return (result.environment, result.check_id, result.resource.arn)


def diff_reports(old: Report, new: Report) -> dict[str, Any]:
    """New failures, resolved failures, still failing, new errors, waiver changes."""
    before = {_key(r): r for r in old.results}
    after = {_key(r): r for r in new.results}

    def entry(result: Result, was: str | None) -> dict[str, Any]:
        return {
            "environment": result.environment,
            "check_id": result.check_id,
            "resource": result.resource.arn,
            "status": result.status,
            "was": was,
            "message": result.message,
        }

    def was(key: Key) -> str | None:
        return before[key].status if key in before else None

    waivers_before = {(w.ticket, w.check, w.environment, w.resource): w.state for w in old.waivers}
    waivers_after = {(w.ticket, w.check, w.environment, w.resource): w.state for w in new.waivers}
    return {
        "new_failures": [
            entry(r, was(k)) for k, r in after.items() if r.status == "fail" and was(k) != "fail"
        ],
        "resolved_failures": [
            {**entry(r, "fail"), "status": after[k].status if k in after else "gone"}
            for k, r in before.items()
            if r.status == "fail" and (k not in after or after[k].status != "fail")
        ],
        "still_failing": [
            entry(r, "fail") for k, r in after.items() if r.status == "fail" and was(k) == "fail"
        ],
        "new_errors": [
            entry(r, was(k)) for k, r in after.items() if r.status == "error" and was(k) != "error"
        ],
        "waiver_changes": [
            {
                "ticket": key[0],
                "check_id": key[1],
                "environment": key[2],
                "resource": key[3],
                "was": waivers_before.get(key),
                "now": waivers_after.get(key),
            }
            for key in sorted(waivers_before.keys() | waivers_after.keys())
            if waivers_before.get(key) != waivers_after.get(key)
        ],
    }


def is_regression(changes: dict[str, Any]) -> bool:
    """New failures or new errors."""
    return bool(changes["new_failures"] or changes["new_errors"])


SECTIONS = [
    ("new_failures", "New failures"),
    ("new_errors", "New errors"),
    ("resolved_failures", "Resolved failures"),
    ("still_failing", "Still failing"),
]


def render_diff_markdown(changes: dict[str, Any]) -> str:
    parts = ["# policycheck drift", ""]
    for key, title in SECTIONS:
        rows = [
            [
                e["environment"],
                f"`{e['check_id']}`",
                f"`{e['resource']}`",
                e["was"] or "—",
                e["status"],
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
            w["ticket"],
            f"`{w['check_id']}`",
            w["environment"],
            cell(w["resource"]),
            w["was"] or "—",
            w["now"] or "—",
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
    return json.dumps(changes, indent=2) + "\n"
