"""Merge reports made separately (one per CI matrix job, per account) into one."""

from collections.abc import Iterable

from policycheck.errors import InputError
from policycheck.report.model import (
    ControlInEnvironment,
    ControlResult,
    Gap,
    Report,
    Result,
    RunInfo,
    WaiverReport,
    assess_control,
    catalog_fields,
    control_result,
    strongest,
    summarize,
)
from policycheck.report.spool import (
    EvidenceValues,
    ResultLog,
    ResultLogWriter,
    ResultSpool,
    Scratch,
    merge_runs,
    sort_key,
    stored_line,
)
from policycheck.report.tally import Tally


def _versions(report: Report) -> dict[str, str]:
    return {"policy": report.run.policy_sha256, **report.run.input_sha256}


def merge_reports(reports: list[Report], sources: list[str], allow_mixed: bool = False) -> Report:
    """One report over every environment of the inputs; controls and summary recomputed."""
    if not reports:
        raise InputError("merge: no reports given")
    if not allow_mixed:
        _refuse_mixed_inputs(reports, sources)
    _refuse_overlaps(reports, sources)
    first = reports[0]
    merged, values, tally = _merged_results(reports)
    counted = tally.stand_in()  # what controls and the summary are assessed on
    gaps = merged_gaps(reports)
    environments = list(
        dict.fromkeys(
            name
            for report in reports
            for name in [
                *(report.run.selected_environments or []),
                *(e.name for e in report.run.environments),
            ]
        )
    )
    missing = [g.environment for g in gaps if g.environment not in environments]
    controls = [
        _merge_control(
            [c for report in reports for c in report.controls if c.id == control.id],
            counted,
            [*environments, *missing],
        )
        for control in first.controls
    ]
    # Built once from validated parts: validating again would read the merged results (on
    # disk) back into memory.
    return Report.model_construct(
        run=_merged_run(reports, gaps, environments + missing),
        summary=summarize(controls, counted, gaps),
        controls=controls,
        results=merged,
        waivers=_merge_waivers(reports),
        evidence_values=values,
    )


def _merged_results(reports: list[Report]) -> tuple[ResultLog, EvidenceValues, Tally]:
    """Every input's results, sorted by environment, check, resource and account (then
    in the inputs' order), read one at a time and stored on disk; their values once."""
    scratch = Scratch()
    spool = ResultSpool(scratch.path, "merged")
    values = EvidenceValues(scratch.path, owner=scratch)
    tally = Tally()
    for number, report in enumerate(reports):
        if isinstance(report.evidence_values, EvidenceValues):
            for digest, text in report.evidence_values.raw_items():
                values.add_canonical(digest, text)
        else:
            for value in report.evidence_values.values():
                values.add(value)
        for position, result in enumerate(report.results):
            tally.add(result)
            where = result.resource
            key = sort_key(
                result.environment, result.check_id, where.name, where.account_id, number, position
            )
            spool.add(key, stored_line(result, values))
    spool.flush()
    merged = merge_runs(spool.runs, ResultLogWriter(scratch.path / "results.jsonl", scratch))
    for run in spool.runs:
        run.unlink()
    return merged, values, tally


def _refuse_mixed_inputs(reports: list[Report], sources: list[str]) -> None:
    """InputError when a report was made from other policy or control files than the first."""
    first = _versions(reports[0])
    for report, source in zip(reports[1:], sources[1:], strict=True):
        versions = _versions(report)
        if versions != first:
            changed = sorted(
                k for k in versions.keys() | first.keys() if versions.get(k) != first.get(k)
            )
            raise InputError(
                f"{source}: made from other policy or control files than {sources[0]} "
                f"({', '.join(changed)}); pass --allow-mixed to merge anyway"
            )


def _refuse_overlaps(reports: list[Report], sources: list[str]) -> None:
    """InputError when two reports audited the same environment, account and region."""
    seen: dict[tuple[str, str, str], int] = {}
    for index, report in enumerate(reports):
        for environment in report.run.environments:
            key = (environment.name, environment.account_id, environment.region)
            if seen.setdefault(key, index) != index:
                raise InputError(
                    f"{sources[index]}: environment {environment.name} "
                    f"({environment.account_id}, {environment.region}) is in "
                    f"{sources[seen[key]]} already"
                )


def _merged_run(reports: list[Report], gaps: list[Gap], environments: list[str]) -> RunInfo:
    """The first report's run, with what the inputs say together."""
    return reports[0].run.model_copy(
        update={
            "tool_version": _distinct(r.run.tool_version for r in reports),
            "started_at": min(r.run.started_at for r in reports),
            "finished_at": max(r.run.finished_at for r in reports),
            "git_commit": _distinct(r.run.git_commit for r in reports) or None,
            "environments": [e for r in reports for e in r.run.environments],
            "selected_checks": _union(r.run.selected_checks for r in reports),
            "selected_controls": _union(r.run.selected_controls for r in reports),
            "selected_environments": environments,
            "policy_environments": _union(r.run.policy_environments for r in reports),
            "shard": None,
            "occupied_shards": None,
            "gaps": gaps,
            "deadline": _distinct(r.run.deadline for r in reports),
            "deadline_reached": any(r.run.deadline_reached for r in reports),
            "sources": [source for r in reports for source in r.run.sources],
            "simulated": any(r.run.simulated for r in reports),
        }
    )


def _distinct(values: Iterable[str | None]) -> str:
    """The inputs' values, each once, in order ("" when none has one)."""
    return ", ".join(dict.fromkeys(value for value in values if value))


def _union(selections: Iterable[list[str] | None]) -> list[str] | None:
    """What the inputs selected together; None (everything) if one selected everything."""
    chosen: list[str] = []
    for selection in selections:
        if selection is None:
            return None
        chosen += selection
    return list(dict.fromkeys(chosen))


def merged_gaps(reports: list[Report]) -> list[Gap]:
    """The inputs' own gaps, every shard of an I/N series with work that no input is,
    and every environment of the policy that no input covers."""
    gaps = [gap for report in reports for gap in report.run.gaps]
    present: dict[int, set[int]] = {}
    occupied: dict[int, set[int]] = {}
    for report in reports:
        if report.run.shard:
            index, count = map(int, report.run.shard.split("/"))
            present.setdefault(count, set()).add(index)
            occupied.setdefault(count, set()).update(
                report.run.occupied_shards or range(1, count + 1)
            )
    for count in sorted(present):
        gaps += [
            Gap(environment="*", reason=f"shard {index}/{count}: no report merged")
            for index in sorted(occupied[count] - present[count])
        ]
    covered = {
        name
        for report in reports
        for name in [
            *(report.run.selected_environments or []),
            *(e.name for e in report.run.environments),
            *(g.environment for g in report.run.gaps),
        ]
    }
    expected = dict.fromkeys(e for r in reports for e in r.run.policy_environments or [])
    gaps += [
        Gap(environment=name, reason="no report merged for this environment")
        for name in expected
        if name not in covered
    ]
    return list({(g.environment, g.reason): g for g in gaps}.values())


def _merge_control(
    parts: list[ControlResult], results: list[Result], environments: list[str]
) -> ControlResult:
    """One control over several reports: in each environment the strongest of what the
    reports say (a pass in one account and a failure in another is a failure); an
    environment no report covers, or whose report did not select a control that another
    report selected, is not assessed."""
    first = parts[0]
    own = [r for r in results if r.check_id in first.checks]
    selected_somewhere = any(
        there.status != "not_selected" for part in parts for there in part.environments.values()
    )
    per_environment: dict[str, ControlInEnvironment] = {}
    for environment in environments:
        said = [
            part.environments[environment] for part in parts if environment in part.environments
        ]
        if not said:
            said = [ControlInEnvironment(status="not_assessed", reason="no report merged")]
        status = strongest(there.status for there in said)
        if status == "not_selected" and selected_somewhere:
            said = [
                ControlInEnvironment(
                    status="not_assessed",
                    reason="the report covering this environment did not select it; another "
                    "report did",
                )
            ]
            status = "not_assessed"
        per_environment[environment] = next(there for there in said if there.status == status)
    if not any(part.environments for part in parts):  # reports of older versions
        return assess_control(
            first.id, first.title, first.checks, results, first.manual, **catalog_fields(first)
        )
    return control_result(
        first.id,
        first.title,
        first.checks,
        own,
        per_environment,
        first.manual,
        **catalog_fields(first),
    )


def _merge_waivers(reports: list[Report]) -> list[WaiverReport]:
    """A waiver appears once; it is stale only if stale everywhere."""
    merged: dict[tuple[str, str, str, str], WaiverReport] = {}
    for waiver in (w for r in reports for w in r.waivers):
        key = (waiver.ticket, waiver.check, waiver.environment, waiver.resource)
        known = merged.get(key)
        if known is None:
            merged[key] = waiver
        else:
            state = known.state if known.state != "stale" else waiver.state
            merged[key] = known.model_copy(
                update={
                    "matched": known.matched + waiver.matched,
                    "waived": known.waived + waiver.waived,
                    "state": state,
                }
            )
    return list(merged.values())
