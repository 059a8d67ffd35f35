"""What changed between two reports: the nightly audit's drift."""

from typing import Any

from policycheck.report.model import UNJUDGED, Report, Result, result_key

Key = tuple[str, str, str]


def _location(result: Result) -> tuple[str, str, str]:
    return (result.environment, result.resource.account_id, result.resource.region)


def _why_absent(
    result: Result, new: Report, judged: set[tuple[str, tuple[str, str, str]]]
) -> tuple[str, bool]:
    """Why an earlier result has no counterpart in ``new`` (whose results are of the
    (check, location) pairs ``judged``), and whether that is coverage lost (the
    environment, account or check is no longer audited) rather than a resource that no
    longer exists."""
    locations = {(e.name, e.account_id, e.region) for e in new.run.environments}
    if _location(result) not in locations:
        environment, account, region = _location(result)
        return f"missing from NEW: {environment} in {account or '?'}, {region} not audited", True
    selected = new.run.selected_checks
    if selected is not None and result.check_id not in selected:
        return "missing from NEW: check not selected", True
    controls = new.run.selected_controls
    if controls is not None and not set(result.control_ids) & set(controls):
        return "missing from NEW: control not selected", True
    if (result.check_id, _location(result)) not in judged:
        environment, account, region = _location(result)
        return (
            f"missing from NEW: no result of {result.check_id} in {environment} "
            f"({account or '?'}, {region})",
            True,
        )
    return "resource no longer found", False


def diff_reports(old: Report, new: Report) -> dict[str, Any]:
    """New failures, resolved failures (now passing), still failing, new errors, failures
    waived since, results not compared (missing from NEW, or that NEW, a plan, could not
    judge: not in the plan, not judgeable from a plan), coverage lost, waiver changes. A
    result is resolved only by a pass: one NEW did not assess is never resolved. A plan's
    unjudged results are stated in NEW itself, so they are not coverage lost. The reports'
    results are read one at a time (OLD twice), only their keys and statuses kept besides
    what is listed."""
    before: dict[Key, tuple[str, int]] = {}  # status (of the last result), first position
    for position, result in enumerate(old.results):
        key = result_key(result)
        before[key] = (result.status, before.get(key, ("", position))[1])

    def was(key: Key) -> str | None:
        return before[key][0] if key in before else None

    sections: dict[str, dict[Key, dict[str, Any]]] = {name: {} for name, _ in SECTIONS}
    after: dict[Key, int] = {}  # first position
    judged: set[tuple[str, tuple[str, str, str]]] = set()
    for position, result in enumerate(new.results):
        key = result_key(result)
        after.setdefault(key, position)
        judged.add((result.check_id, _location(result)))
        for section in sections.values():
            section.pop(key, None)  # the last result of a key counts
        for name in _sections_of(result.status, was(key)):
            sections[name][key] = _entry(result, "fail" if name in RESOLVED else was(key))
    for name, entries in sections.items():  # at the key's first place in NEW, or in OLD
        order = (lambda k: before[k][1]) if name in RESOLVED else after.__getitem__
        sections[name] = dict(sorted(entries.items(), key=lambda item: order(item[0])))
    absent: dict[Key, tuple[str, bool]] = {}
    for result in old.results:
        key = result_key(result)
        if key not in after:
            absent[key] = _why_absent(result, new, judged)
            entry = {**_entry(result, result.status), "status": absent[key][0]}
            sections["not_compared"][key] = entry
    listed = {name: list(entries.values()) for name, entries in sections.items()}
    return {
        **{name: listed[name] for name in DIFF_ORDER},
        "coverage_lost": _coverage_lost(old, new, absent),
        "waiver_changes": _waiver_changes(old, new),
    }


#: The sections in the order diff_reports gives them.
DIFF_ORDER = (
    "new_failures",
    "resolved_failures",
    "waived_failures",
    "still_failing",
    "new_errors",
    "not_compared",
)
#: Sections of a result that was a failure in OLD and is no longer one.
RESOLVED = ("resolved_failures", "waived_failures")


def _sections_of(status: str, was: str | None) -> list[str]:
    """The sections a NEW result of ``status`` goes to, OLD's being ``was``."""
    if status == "fail":
        return ["still_failing" if was == "fail" else "new_failures"]
    if status == "error":
        return [] if was == "error" else ["new_errors"]
    if was == "fail" and status in ("pass", "waived"):
        return ["resolved_failures" if status == "pass" else "waived_failures"]
    if status in UNJUDGED and was is not None and was not in UNJUDGED:
        return ["not_compared"]  # NEW, a plan, could not judge what OLD judged
    return []


def _entry(result: Result, was: str | None) -> dict[str, Any]:
    return {
        "environment": result.environment,
        "check_id": result.check_id,
        "resource": result.resource.arn,
        "status": result.status,
        "was": was,
        "message": result.message,
    }


def _coverage_lost(old: Report, new: Report, absent: dict[Key, tuple[str, bool]]) -> list[str]:
    """Why results OLD had are gone from NEW, and the gaps NEW has that OLD had not."""
    old_gaps = {(g.environment, g.reason) for g in old.run.gaps}
    return sorted(
        {reason for reason, lost in absent.values() if lost}
        | {
            f"{g.environment}: {g.reason}"
            for g in new.run.gaps
            if (g.environment, g.reason) not in old_gaps
        }
    )


def _waiver_changes(old: Report, new: Report) -> list[dict[str, Any]]:
    before = {(w.ticket, w.check, w.environment, w.resource): w.state for w in old.waivers}
    after = {(w.ticket, w.check, w.environment, w.resource): w.state for w in new.waivers}
    return [
        {
            "ticket": key[0],
            "check_id": key[1],
            "environment": key[2],
            "resource": key[3],
            "was": before.get(key),
            "now": after.get(key),
        }
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


def is_regression(changes: dict[str, Any]) -> bool:
    """New failures, new errors, or less assessed than before."""
    return bool(changes["new_failures"] or changes["new_errors"] or changes["coverage_lost"])


#: The sections of a comparison, in the order the views show them, with their titles.
SECTIONS = [
    ("new_failures", "New failures"),
    ("new_errors", "New errors"),
    ("not_compared", "Not compared (missing from NEW, or not judged by it)"),
    ("resolved_failures", "Resolved failures"),
    ("waived_failures", "Failures waived since"),
    ("still_failing", "Still failing"),
]
