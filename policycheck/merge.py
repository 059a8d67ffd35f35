"""Merge reports made separately (one per CI matrix job, per account) into one."""

from policycheck.errors import InputError
from policycheck.report import Report, Result, WaiverReport, assess_control, summarize


def _versions(report: Report) -> dict[str, str]:
    return {"policy": report.run.policy_sha256, **report.run.input_sha256}


def merge_reports(reports: list[Report], sources: list[str], allow_mixed: bool = False) -> Report:
    """One report over every environment of the inputs; controls and summary recomputed."""
    if not reports:
        raise InputError("merge: no reports given")
    first = reports[0]
    for report, source in zip(reports[1:], sources[1:], strict=True):
        if not allow_mixed and _versions(report) != _versions(first):
            changed = sorted(
                k
                for k in _versions(report).keys() | _versions(first).keys()
                if _versions(report).get(k) != _versions(first).get(k)
            )
            raise InputError(
                f"{source}: made from other policy or control files than {sources[0]} "
                f"({', '.join(changed)}); pass --allow-mixed to merge anyway"
            )
    seen: dict[tuple[str, str], str] = {}
    for report, source in zip(reports, sources, strict=True):
        for environment in report.run.environments:
            key = (environment.name, environment.account_id)
            if key in seen:
                raise InputError(
                    f"{source}: environment {environment.name} "
                    f"({environment.account_id}) is in {seen[key]} already"
                )
            seen[key] = source
    results: list[Result] = sorted(
        (r for report in reports for r in report.results),
        key=lambda r: (r.environment, r.check_id, r.resource.name, r.resource.account_id),
    )
    controls = [
        assess_control(
            c.id,
            c.title,
            c.checks,
            results,
            c.manual,
            requirements=c.requirements,
            source_file=c.source_file,
            check_lines=c.check_lines,
        )
        for c in first.controls
    ]
    run = first.run.model_copy(
        update={
            "started_at": min(r.run.started_at for r in reports),
            "finished_at": max(r.run.finished_at for r in reports),
            "environments": [e for r in reports for e in r.run.environments],
        }
    )
    return Report(
        run=run,
        summary=summarize(controls, results),
        controls=controls,
        results=results,
        waivers=_merge_waivers(reports),
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
            matched = known.matched + waiver.matched
            state = known.state if known.state != "stale" else waiver.state
            merged[key] = known.model_copy(update={"matched": matched, "state": state})
    return list(merged.values())
