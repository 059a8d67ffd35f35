"""What the views share: the lines and rows each view states the same way (the verdict,
the control matrix, what was not assessed, what a plan changes and could not judge, the
run's metadata), as plain text or set in a view's Style (Markdown: markdown.MARKDOWN;
the HTML escapes the line)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from policycheck.render.characters import visible
from policycheck.report.model import (
    UNJUDGED,
    Report,
    Result,
    RunInfo,
    control_status_in,
    has_unjudged,
    report_environments,
    unassessed,
)
from policycheck.report.statuses import STATUS_LABEL


@dataclass(frozen=True)
class Style:
    """How the lines the views share set a literal (a check id, a resource) and a value:
    as Markdown (escaped) or as plain text (the terminal; the HTML escapes the line)."""

    code: Callable[[str], str]
    text: Callable[[str], str]


def _plain_code(value: str) -> str:
    return f"`{visible(value)}`"


PLAIN = Style(code=_plain_code, text=visible)


CONTROL_HEADERS = ["Control", "Title", "Status", "Pass", "Fail", "Error"]
#: Columns a report judged on a plan adds to the control matrix.
PLAN_HEADERS = ["Not in plan", "Not judgeable"]


def on_plan(report: Report) -> bool:
    """Whether the report judged Terraform plans (or merges such reports)."""
    return bool(report.run.sources) or has_unjudged(report)


def control_headers(report: Report) -> list[str]:
    """The control matrix's columns (see control_rows)."""
    return CONTROL_HEADERS + (PLAN_HEADERS if on_plan(report) else [])


def control_rows(report: Report, style: Style = PLAIN) -> list[list[Any]]:
    """The control matrix: one row per control with its status and counts (and, on a
    plan, how many of its results the plan could not judge)."""
    plan = on_plan(report)
    return [
        [
            style.text(c.id),
            style.text(c.title),
            STATUS_LABEL[c.status],
            c.counts.pass_,
            c.counts.fail,
            c.counts.error,
        ]
        + ([c.counts.not_in_plan, c.counts.not_assessed] if plan else [])
        for c in report.controls
    ]


#: Said first when the results not in the plan are this many times those judged.
NEARLY_ALL = 4


def overall(report: Report, waived: bool = False) -> tuple[str, str]:
    """The verdict and the result counts behind it (the waived ones when there are some,
    or ``waived`` asks for them); on a plan, also how much of it the plan could judge:
    ("PASS on the plan", "40 judged (40 passed, 0 failed, 0 errors), 26 not in plan, 16
    not judgeable from a plan"), said first when nearly all are not in the plan."""
    counts = report.summary.results
    label = STATUS_LABEL[report.summary.status]
    tally = f"{counts.pass_} passed, {counts.fail} failed, {counts.error} errors" + (
        f", {counts.waived} waived" if counts.waived or waived else ""
    )
    if not on_plan(report):
        return label, f"{tally} in {counts.total} results"
    judged = counts.total - counts.not_in_plan - counts.not_assessed
    # judged on the plans' resources (the others: on the platform repository)
    on_plans = sum(r.plan is not None for r in report.results)
    mostly_missing = (
        f"NEARLY ALL NOT IN THE PLAN: {counts.not_in_plan} of the {counts.total} results name "
        "resources the plan neither has nor creates; "
        if on_plans * NEARLY_ALL <= counts.not_in_plan
        else ""
    )
    return (
        f"{label} on the plan",
        f"{mostly_missing}{judged} judged ({tally}), {counts.not_in_plan} not in plan, "
        f"{counts.not_assessed} not judgeable from a plan",
    )


def plan_change_lines(report: Report, style: Style = PLAIN) -> list[str]:
    """What the plan does to each verdict it changes, in a sentence per check: the plan
    breaks a check that passes today, fixes one, deletes or replaces a resource (said
    even when the verdict stays), makes a value unknown until apply, or creates a
    resource that would fail."""
    if not on_plan(report):
        return []
    lines = []
    for r in report.results:
        change = r.plan
        if change is None or r.status not in ("fail", "error", "pass"):
            continue
        destroys = change.action in ("delete", "replace")
        if not destroys and change.before_status == r.status:
            continue
        if change.before_status is None and r.status == "pass" and not destroys:
            continue  # a new resource that complies: nothing to warn about
        controls = style.text(", ".join(r.control_ids) or r.check_id)
        what = style.text(", ".join(change.changed) or f"{change.address} ({change.action})")
        where = f"{style.code(r.resource.name)} ({what})"
        check = style.code(r.check_id)
        if destroys:
            outcome = {"fail": "failing", "pass": "passing", "error": "leaving undecided"}
            verb = f"{change.action}s {where}, {outcome[r.status]} {check}"
        elif change.before_status is None:
            verb = f"creates {where} failing {check}"
        else:
            verb = {"fail": "breaks", "pass": "fixes", "error": "leaves undecided"}[
                r.status
            ] + f" {check} on {where}"
        today = f" ({change.before_status} today)" if change.before_status else ""
        lines.append(
            f"this plan {verb}: {style.text(r.message)} — {controls} would {r.status}{today}"
        )
    return lines


def unjudged_lines(report: Report, style: Style = PLAIN) -> list[str]:
    """What a plan could not judge, one line per check: not judgeable from a plan (and
    why), or resources the policy names that the plan does not have."""
    if not has_unjudged(report):
        return []
    lines = []
    for status, label in (
        ("not_assessed", "not judgeable from a plan"),
        ("not_in_plan", "not in plan"),
    ):
        by_check: dict[str, list[Result]] = {}
        for r in report.results:
            if r.status == status:
                by_check.setdefault(r.check_id, []).append(r)
        for check_id, results in by_check.items():
            names = sorted({f"{r.resource.name} ({r.environment})" for r in results})
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            why = f": {results[0].message}" if status == "not_assessed" else ""
            lines.append(f"{label}: {style.code(check_id)} on {style.text(shown + why)}")
    return lines


def unassessed_lines(report: Report, style: Style = PLAIN) -> list[str]:
    """What the run was asked to assess and could not: gaps, then each control in each
    environment where it was not assessed (and no result says why), and the deadline if
    it cut the run short."""
    lines = [
        f"environment {style.text(gap.environment)}: {style.text(gap.reason)}"
        for gap in report.run.gaps
    ]
    controls = {control.id: control for control in report.controls}
    for control_id, name in unassessed(report.controls, report.results):
        control = controls[control_id]
        if name:
            reason = control.environments[name].reason or "no result"
            lines.append(style.text(f"{control_id} in {name}: {reason}"))
        else:
            lines.append(style.text(f"{control_id}: {control.reason or 'no result'}"))
    if report.run.deadline_reached:
        lines.append(
            f"the deadline ({style.text(report.run.deadline)}) was reached: facts not read by "
            "then are errors"
        )
    return lines


def unjudged_control_lines(report: Report, style: Style = PLAIN) -> list[str]:
    """Each control in each environment the matrix shows NOT ASSESSED that no gap explains:
    only results that judge nothing (a plan's), with why. Not a pass, not a failure."""
    gaps = set(unassessed(report.controls, report.results))
    lines = []
    for control in report.controls:
        for environment in report_environments(report):
            if (control.id, environment) in gaps or (
                control_status_in(report, control, environment) != "not_assessed"
            ):
                continue
            why = next(
                (
                    f"{style.code(r.check_id)} on {style.text(r.resource.name)}: "
                    f"{style.text(r.message)}"
                    for r in report.results
                    if control.id in r.control_ids
                    and r.environment == environment
                    and r.status in UNJUDGED
                ),
                style.text(control.reason or "no result"),
            )
            where = style.text(f"{control.id} in {environment}")
            lines.append(f"{where}: not judgeable from a plan ({why})")
    return lines


#: A piece of text and how it is set: "" plain, "code" (a literal: hash, ARN, file) or
#: "strong"; shared by the Markdown and HTML views.
Segment = tuple[str, str]


def run_rows(run: RunInfo) -> list[tuple[str, list[Segment]]]:
    """The run's metadata as (label, value) rows: tool, times, commit, input hashes,
    deadline, who the run was in each environment, the selection."""
    policy_name = run.policy_file.rsplit("/", 1)[-1]
    rows: list[tuple[str, list[Segment]]] = [
        ("Tool version", [(run.tool_version, "")]),
        ("Started", [(run.started_at, "")]),
        ("Finished", [(run.finished_at, "")]),
        ("Git commit", [(run.git_commit, "code")] if run.git_commit else [("unknown", "")]),
        ("Policy file", [(run.policy_file, "code")]),
        ("Policy SHA-256", [(run.policy_sha256, "code")]),
        *(
            (f"SHA-256 of {path}", [(digest, "code")])
            for path, digest in run.input_sha256.items()
            if path != policy_name
        ),
    ]
    if run.deadline:
        reached: list[Segment] = [
            (" — ", ""),
            ("reached", "strong"),
            (": facts not read by then are errors", ""),
        ]
        rows.append(("Deadline", [(run.deadline, ""), *(reached if run.deadline_reached else [])]))
    for source in run.sources:
        rows.append(
            (
                f"Plan {source.path}",
                [
                    (
                        f"Terraform {source.terraform_version}, format {source.format_version}, "
                        "SHA-256 ",
                        "",
                    ),
                    (source.sha256, "code"),
                ],
            )
        )
    if run.simulated:
        rows.append(("Accounts", [("simulated by the demo (moto on loopback), not AWS", "")]))
    for env in run.environments:
        where = f"account {env.account_id}, {env.region}, "
        if env.error:
            reach: list[Segment] = [(where, ""), ("not reached", "strong"), (f": {env.error}", "")]
        elif run.sources:
            reach = [(where + "judged on the plan", "")]
        else:
            reach = [(where + "as ", ""), (env.caller_arn, "code")]
        rows.append((f"Environment {env.name}", reach))
    if run.selected_checks:
        rows.append(("Selected checks", [(", ".join(run.selected_checks), "")]))
    if run.selected_controls:
        rows.append(("Selected controls", [(", ".join(run.selected_controls), "")]))
    if run.shard:
        rows.append(("Shard", [(run.shard, "")]))
    return rows


#: What the two lists of the "Not assessed" section say (the HTML says the same).
NOT_ASSESSED_INTRO = "Selected but not assessed: the run is not a pass while any of these remains."
UNJUDGED_CONTROLS_INTRO = (
    "Not assessed on the plan, only results that judge nothing (not a pass, not a "
    "failure; the nightly audit judges them):"
)
