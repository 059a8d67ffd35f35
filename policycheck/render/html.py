"""The auditor's report as one self-contained HTML file: run metadata, the control by
environment matrix, the framework crosswalk, what was not assessed, waivers, and per
control its objective, manual statements and every result with the policy sentence it
verifies, observed vs expected, the API calls and times, the evidence hash and the
remediation; with a history, a strip of each control's days.

No network: CSS and a small script are inline, and the page's Content-Security-Policy
allows nothing else (no request, no other script). Everything taken from AWS, the policy
or the report is escaped. Filtering by status and environment works offline; printed, each
control starts on a new page and the statuses read without colour (a symbol and a label
each, patterns in the history strips)."""

import base64
import hashlib
import io
import json
import shutil
from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from html import escape
from typing import IO, Any, TextIO

from policycheck.policy.crosswalk import FRAMEWORKS, CheckStatuses, evidence_for
from policycheck.render.characters import visible
from policycheck.render.document import Spool, in_memory
from policycheck.render.view import (
    NOT_ASSESSED_INTRO,
    PLAN_HEADERS,
    UNJUDGED_CONTROLS_INTRO,
    Segment,
    on_plan,
    overall,
    plan_change_lines,
    run_rows,
    unassessed_lines,
    unjudged_control_lines,
    unjudged_lines,
)
from policycheck.report.history import History, Timeline, counted
from policycheck.report.model import (
    FINDINGS,
    REMEDIABLE,
    ControlResult,
    Report,
    Result,
    WaiverReport,
    control_status_in,
    report_environments,
)
from policycheck.report.statuses import STATUS_LOOKS

STYLE = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a}
body{margin:0 auto;max-width:1200px;padding:1rem 1.5rem;line-height:1.4}
h1{margin:.2rem 0}h2{margin-top:1.6rem;border-bottom:2px solid #333}h3{margin:.4rem 0}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border:1px solid #999;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#eee}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
code{overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f7;border:1px solid #ddd;
padding:.4rem;margin:.2rem 0;max-height:28rem;overflow:auto}
.badge{display:inline-block;border:1px solid #555;border-radius:3px;padding:0 .35rem;
font-weight:600;white-space:nowrap}
.tone-good{background:#dff3df;color:#0b5d1e;border-color:#0b5d1e}
.tone-bad{background:#8b0000;color:#fff;border-color:#000}
.tone-warn{background:repeating-linear-gradient(45deg,#ffd9a0 0 4px,#fff 4px 8px);
color:#6b3a00;border:1px dashed #6b3a00}
.tone-waived{background:repeating-linear-gradient(-45deg,#ddd 0 3px,#fff 3px 6px);
color:#333;border:1px dashed #333}
.tone-gap{background:#fff;color:#6b3a00;border:2px dotted #6b3a00}
.tone-info{background:#e6ecfb;color:#1f3a93;border-color:#1f3a93}
.tone-none{background:#f2f2f2;color:#555;border-color:#aaa}
.tone-empty{background:#fff;color:#777;border:1px solid #bbb}
.overall{font-size:1.3rem}.muted{color:#555}
section,.result{scroll-margin-top:5.5rem}
#filters{position:sticky;top:0;background:#fff;border:1px solid #999;padding:.4rem .6rem;
z-index:1}
#filters fieldset{display:inline-block;border:0;margin:0 1rem 0 0;padding:0}
#filters label{margin-right:.6rem;white-space:nowrap}
td.filtered,th.filtered{opacity:.25}
.filterable.filtered{display:none}
.control .filter-note{display:none}.control.no-match .filter-note{display:block}
.result{border:1px solid #bbb;border-left:6px solid #999;margin:.6rem 0;padding:.3rem .7rem}
.result[data-status=fail]{border-left-color:#8b0000}
.result[data-status=error]{border-left-style:dashed;border-left-color:#b86e00}
.result[data-status=waived]{border-left-style:double}
.result dl{display:grid;grid-template-columns:10rem 1fr;gap:.15rem .6rem;margin:.3rem 0}
.result dt{font-weight:600}.result dd{margin:0}
.compare{display:grid;grid-template-columns:1fr 1fr;gap:.6rem}
.strip{display:flex;height:14px;border:1px solid #555;margin:.15rem 0}
.strip i{flex:1 1 0;min-width:1px}
.strip i.changed{box-shadow:inset 2px 0 0 #000}
.strip i.tone-good{background:#bfe6bf}.strip i.tone-bad{background:#222}
.strip i.tone-empty{background:#fff}
.timeline td{border:0;padding:.1rem .4rem}.timeline{width:100%}
@page{size:A4;margin:12mm}
@media print{
*{print-color-adjust:exact;-webkit-print-color-adjust:exact}
body{max-width:none;padding:0;font-size:9.5pt}
#filters,.no-print{display:none}
section.control{break-before:page}
.result{break-inside:avoid-page}
pre{max-height:none;overflow:visible}
h2,h3,h4{break-after:avoid}
}
"""

SCRIPT = """
(function () {
  var boxes = document.querySelectorAll('#filters input[type=checkbox]');
  function apply() {
    var on = {status: {}, env: {}};
    boxes.forEach(function (box) { on[box.name][box.value] = box.checked; });
    var shown = 0;
    document.querySelectorAll('[data-status][data-env]').forEach(function (el) {
      var visible = on.status[el.dataset.status] !== false && on.env[el.dataset.env] !== false;
      el.classList.toggle('filtered', !visible);
      if (visible && el.classList.contains('result')) { shown += 1; }
    });
    document.querySelectorAll('section.control').forEach(function (section) {
      section.classList.toggle('no-match', !section.querySelector('.filterable:not(.filtered)'));
    });
    document.getElementById('shown').textContent = String(shown);
  }
  boxes.forEach(function (box) { box.addEventListener('change', apply); });
  apply();
})();
"""


def esc(value: object) -> str:
    """Text safe anywhere in an element or a quoted attribute (without the characters
    no XML or HTML parser accepts)."""
    return visible(escape(str(value), quote=True))


def badge(status: str) -> str:
    """A status as a symbol and a label (readable without colour) in its tone."""
    look = STATUS_LOOKS[status]
    return (
        f'<span class="badge tone-{look.tone}"><span aria-hidden="true">{esc(look.symbol)}'
        f"</span> {esc(look.label)}</span>"
    )


def _segments(segments: list[Segment]) -> str:
    tags = {"": ("", ""), "code": ("<code>", "</code>"), "strong": ("<strong>", "</strong>")}
    return "".join(f"{tags[style][0]}{esc(text)}{tags[style][1]}" for text, style in segments)


def _json(value: Any) -> str:
    return f"<pre>{esc(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def _table(headers: list[str], rows: list[list[str]], css: str = "") -> str:
    """A table of already escaped cells (no header row when every header is empty)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}">{thead}<tbody>{body}</tbody></table>'


def render_html(report: Report, history: History | None = None) -> str:
    """The report (and, given, its history) as one HTML document."""
    buffer = io.StringIO()
    write_html(report, buffer, in_memory, history)
    return buffer.getvalue()


def write_html(report: Report, out: TextIO, spool: Spool, history: History | None = None) -> None:
    """The report (and, given, its history) as one HTML document, the results read once:
    each rendered into its controls' sections (held in files of ``spool`` until the page
    is written)."""
    environments = report_environments(report)
    timelines = _timelines_by_control(history)
    with ExitStack() as stack:
        seen = _Sections(report, {c.id: stack.enter_context(spool()) for c in report.controls})
        head = [
            _header(report),
            seen.findings_section(),
            _run_section(report),
            _filters(report, environments, seen),
            _matrix(report, environments),
            _plan_sections(report),
            _crosswalk(report),
            _not_assessed(report),
            _waivers(report.waivers),
            _history_overview(history) if history else "",
        ]
        label = STATUS_LOOKS[report.summary.status].label
        title = f"policycheck report: {label} ({report.run.started_at})"
        out.write(_page_start(title) + "\n".join(part for part in head if part))
        for control in report.controls:
            own_timelines = timelines.get(control.id, [])
            out.write(
                "\n" + _control_head(report, control, environments, seen, own_timelines, history)
            )
            seen.copy_results(control.id, out)
            out.write("\n</section>")
    out.write(_page_end())


#: Findings listed first on the page, at most (more are counted).
LISTED_FINDINGS = 100


class _Sections:
    """The results read once: their statuses, how many there are, per control the
    environments with a result and how many, and each control's results rendered in
    order into a file of their own (``files``: one per control, by id)."""

    def __init__(self, report: Report, files: dict[str, IO[str]]) -> None:
        self.statuses: set[str] = set()
        self.total = 0
        self.findings: list[str] = []
        self.more_findings = 0
        self.by_control: dict[str, Counter[str]] = {c.id: Counter() for c in report.controls}
        self._files = files
        controls = {c.id: c for c in report.controls}
        for result in report.results:
            self.statuses.add(result.status)
            self.total += 1
            if result.status in FINDINGS:
                self._add_finding(result)
            for control_id in result.control_ids:
                self.by_control.setdefault(control_id, Counter())[result.environment] += 1
                if control_id in files:
                    rendered = _result(result, controls[control_id], report.evidence_values)
                    files[control_id].write("\n" + rendered)

    def _add_finding(self, result: Result) -> None:
        if len(self.findings) == LISTED_FINDINGS:
            self.more_findings += 1
            return
        target = f"#control-{result.control_ids[0]}" if result.control_ids else "#matrix"
        self.findings.append(
            f"<li>{badge(result.status)} <code>{esc(result.check_id)}</code> on "
            f"<code>{esc(result.resource.name)}</code> in {esc(result.environment)}: "
            f'{esc(result.message)} <a href="{esc(target)}">details</a></li>'
        )

    def findings_section(self) -> str:
        """What failed or erred, first on the page: a line each, linking to its control."""
        if not self.findings:
            return ""
        more = (
            f'<p class="muted">… and {self.more_findings} more, in the sections of their '
            "controls below.</p>"
            if self.more_findings
            else ""
        )
        return (
            '<section id="findings"><h2>What failed</h2><ul class="findings">'
            + "".join(self.findings)
            + f"</ul>{more}</section>"
        )

    def copy_results(self, control_id: str, out: TextIO) -> None:
        """A control's results, as rendered, in the report's order."""
        rendered = self._files[control_id]
        rendered.seek(0)
        shutil.copyfileobj(rendered, out)


def _page_start(title: str) -> str:
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    )


def _page_end() -> str:
    return f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n"


def _header(report: Report) -> str:
    """The verdict as the Markdown states it (see view.overall): on a plan, "on the
    plan" and how much of it the plan could not judge."""
    label, detail = overall(report, waived=True)
    qualifier = label.removeprefix(STATUS_LOOKS[report.summary.status].label)
    return (
        '<header><h1>policycheck report</h1><p class="overall">Overall: '
        f"{badge(report.summary.status)}{esc(qualifier)} — {esc(detail)}.</p></header>"
    )


def _plan_sections(report: Report) -> str:
    """On a plan, as the Markdown: what it changes, verdict by verdict, and what it could
    not judge."""
    if not on_plan(report):
        return ""
    changes = "".join(f"<li>{esc(line)}</li>" for line in plan_change_lines(report))
    unjudged = "".join(f"<li>{esc(line)}</li>" for line in unjudged_lines(report))
    return (
        '<section id="plan"><h2>What this plan changes</h2>'
        + (f"<ul>{changes}</ul>" if changes else "<p>No verdict changes.</p>")
        + (
            "<h3>Not judged on the plan</h3><p>Not a pass and not a failure: resources the "
            "plan does not have (a plan of one module shows only its part of the account) "
            "and checks that need what only the live account shows. The nightly audit "
            f"judges them.</p><ul>{unjudged}</ul>"
            if unjudged
            else ""
        )
        + "</section>"
    )


def _run_section(report: Report) -> str:
    rows = [[esc(label), _segments(value)] for label, value in run_rows(report.run)]
    rows += [[esc(f"Gap ({gap.environment})"), esc(gap.reason)] for gap in report.run.gaps]
    return f'<section id="run"><h2>Run</h2>{_table(["", ""], rows, "run")}</section>'


def _filters(report: Report, environments: list[str], seen: _Sections) -> str:
    present = seen.statuses | {
        control_status_in(report, c, env) for c in report.controls for env in environments
    }
    statuses = "".join(
        f'<label><input type="checkbox" name="status" value="{esc(s)}" checked> {badge(s)}</label>'
        for s in STATUS_LOOKS
        if s in present
    )
    envs = "".join(
        f'<label><input type="checkbox" name="env" value="{esc(e)}" checked> {esc(e)}</label>'
        for e in environments
    )
    return (
        '<form id="filters" class="no-print"><fieldset><legend>Status</legend>'
        f"{statuses}</fieldset><fieldset><legend>Environment</legend>{envs}</fieldset>"
        f'<span>Showing <strong id="shown">{seen.total}</strong> of '
        f"{seen.total} results</span></form>"
    )


def _matrix(report: Report, environments: list[str]) -> str:
    plan = on_plan(report)
    headers = ["Control", "Title", *environments, "Overall", "Pass", "Fail", "Error", "Waived"]
    headers += PLAN_HEADERS if plan else []
    rows = []
    for control in report.controls:
        cells = "".join(
            f'<td class="cell" data-status="{esc(status)}" data-env="{esc(env)}">'
            f"{badge(status)}</td>"
            for env in environments
            for status in [control_status_in(report, control, env)]
        )
        counts = control.counts
        rows.append(
            f'<tr id="matrix-{esc(control.id)}"><td><a href="#control-{esc(control.id)}">'
            f"{esc(control.id)}</a></td><td>{esc(control.title)}</td>{cells}"
            f'<td class="overall-cell">{badge(control.status)}</td><td>{counts.pass_}</td>'
            f"<td>{counts.fail}</td><td>{counts.error}</td><td>{counts.waived}</td>"
            + (f"<td>{counts.not_in_plan}</td><td>{counts.not_assessed}</td>" if plan else "")
            + "</tr>"
        )
    head = "".join(
        f'<th data-env="{esc(h)}">{esc(h)}</th>' if h in environments else f"<th>{esc(h)}</th>"
        for h in headers
    )
    return (
        '<section id="matrix"><h2>Control matrix</h2><table class="matrix"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _crosswalk(report: Report) -> str:
    controls = {c.id: c for c in report.controls}
    checks = CheckStatuses(report.results)
    rows = [
        [
            esc(FRAMEWORKS[framework_id].title),
            f"<code>{esc(e.requirement)}</code>",
            f'<a href="#control-{esc(e.control_id)}">{esc(e.control_id)}</a>',
            ", ".join(f"<code>{esc(check)}</code>" for check in e.checks),
            badge(checks.requirement_status(e, controls[e.control_id])),
            esc(e.reason),
        ]
        for framework_id in FRAMEWORKS
        for e in evidence_for(framework_id, report.controls)
    ]
    if not rows:
        return ""
    return (
        '<section id="crosswalk"><h2>Framework crosswalk</h2><p class="muted">The '
        "requirements of each framework the controls evidence, the checks that evidence "
        "each, its status in this run from those checks' results alone, and why.</p>"
        f"{_table(['Framework', 'Requirement', 'Control', 'Checks', 'Status', 'Why'], rows)}"
        "</section>"
    )


def _not_assessed(report: Report) -> str:
    """What the run did not assess (as the Markdown's section): gaps, and every control
    the matrix shows NOT ASSESSED because a plan could not judge it."""
    gaps = [f"<li>{esc(line)}</li>" for line in unassessed_lines(report)]
    unjudged = [f"<li>{esc(line)}</li>" for line in unjudged_control_lines(report)]
    why = [
        f"<li>{esc(c.id)} in {esc(env)}: {badge(there.status)} {esc(there.reason)}</li>"
        for c in report.controls
        for env, there in c.environments.items()
        if there.status in ("not_applicable", "not_selected") and there.reason
    ]
    assessed = "<p>Nothing: every selected control was assessed where it applies.</p>"
    return (
        '<section id="not-assessed"><h2>Not assessed</h2>'
        + (f"<p>{esc(NOT_ASSESSED_INTRO)}</p><ul>{''.join(gaps)}</ul>" if gaps else "")
        + (f"<p>{esc(UNJUDGED_CONTROLS_INTRO)}</p><ul>{''.join(unjudged)}</ul>" if unjudged else "")
        + ("" if gaps or unjudged else assessed)
        + (f"<p>Not applicable or not selected, and why:</p><ul>{''.join(why)}</ul>" if why else "")
        + "</section>"
    )


def _waivers(waivers: list[WaiverReport]) -> str:
    rows = [
        [
            badge("waived") if w.state == "active" else esc(w.state.upper()),
            f"<code>{esc(w.check)}</code>",
            esc(w.environment),
            f"<code>{esc(w.resource)}</code>",
            esc(w.owner),
            esc(w.ticket),
            esc(w.expires),
            esc(w.matched),
            esc(w.waived),
            esc(w.justification),
        ]
        for w in waivers
    ]
    headers = ["State", "Check", "Environment", "Resource", "Owner", "Ticket", "Expires"]
    table = (
        _table([*headers, "Matched", "Waived", "Justification"], rows) if rows else "<p>None.</p>"
    )
    return f'<section id="waivers"><h2>Waivers</h2>{table}</section>'


def _history_overview(history: History) -> str:
    rows = [
        [
            f'<a href="#control-{esc(t.control_id)}">{esc(t.control_id)}</a>',
            esc(t.environment),
            esc(t.days_out_of_compliance),
            esc(len(t.failures)),
            esc(t.days_by_status.get("pass", 0)),
            esc(sum(n for s, n in t.days_by_status.items() if s not in ("pass", "fail"))),
        ]
        for t in history.timelines
    ]
    headers = ["Control", "Environment", "Days out of compliance", "Failures", "Days passing"]
    changes = "".join(
        f"<li>{esc(c.date)}: {esc(', '.join(c.changed))} changed "
        f"(policy <code>{esc(c.policy_sha256_before[:12])}</code> → "
        f"<code>{esc(c.policy_sha256_after[:12])}</code>)</li>"
        for c in history.policy_changes
    )
    return (
        '<section id="history"><h2>History</h2>'
        f"<p>{esc(history.start)} to {esc(history.end)} ({counted(len(history.days), 'day')}, "
        f"{counted(history.reports, 'report')}; skipped: {len(history.skipped)}, see "
        "history.json or history.md). A failure lasts until a report shows the control "
        "passing, waived or not applicable; days without evidence in between count as out "
        "of compliance.</p>"
        f"{_table([*headers, 'Other days (no report, error, waived, …)'], rows)}"
        f"<h3>Policy changes</h3><ul>{changes or '<li>None in the period.</li>'}</ul></section>"
    )


def _timelines_by_control(history: History | None) -> dict[str, list[Timeline]]:
    found: dict[str, list[Timeline]] = {}
    for timeline in history.timelines if history else []:
        found.setdefault(timeline.control_id, []).append(timeline)
    return found


def _strip(timeline: Timeline, days: list[str], changed: set[str]) -> str:
    cells = "".join(
        f'<i class="tone-{STATUS_LOOKS[status].tone}{" changed" if day in changed else ""}" '
        f'title="{esc(day)}: {esc(STATUS_LOOKS[status].label)}'
        f'{" (policy changed)" if day in changed else ""}"></i>'
        for day, status in zip(days, timeline.statuses, strict=True)
    )
    failures = "; ".join(
        f"failed {f.started} → {f.ended or 'still failing'} ({counted(f.days, 'day')}"
        + (f", ended {STATUS_LOOKS[f.ended_as].label}" if f.ended_as else "")
        + ")"
        for f in timeline.failures
    )
    return (
        f'<tr><td>{esc(timeline.environment)}</td><td style="width:60%"><div class="strip" '
        f'role="img" aria-label="status per day">{cells}</div></td><td>'
        f"{counted(timeline.days_out_of_compliance, 'day')} out of compliance"
        f"{esc('; ' + failures) if failures else ''}</td></tr>"
    )


def _history_block(timelines: list[Timeline], history: History | None) -> str:
    if not history or not timelines:
        return ""
    changed = {c.date for c in history.policy_changes}
    days = history.days
    return (
        f"<h3>History {esc(history.start)} to {esc(history.end)}</h3>"
        f'<table class="timeline">{"".join(_strip(t, days, changed) for t in timelines)}</table>'
    )


def _control_head(
    report: Report,
    control: ControlResult,
    environments: list[str],
    seen: _Sections,
    timelines: list[Timeline],
    history: History | None,
) -> str:
    with_results = seen.by_control.get(control.id, Counter())
    elsewhere = [
        f'<li class="filterable" data-status="{esc(status)}" data-env="{esc(env)}">'
        f"{esc(env)}: {badge(status)} {esc(there.reason if there else '')}</li>"
        for env in environments
        if env not in with_results
        for there in [control.environments.get(env)]
        for status in [control_status_in(report, control, env)]
    ]
    frameworks = "".join(
        f"<li>{esc(FRAMEWORKS[name].title if name in FRAMEWORKS else name)} "
        f"<code>{esc(req)}</code>: {esc(reason)}</li>"
        for name, mapped in control.frameworks.items()
        for req, reason in mapped.items()
    )
    manual = "".join(f"<li>{esc(m)}</li>" for m in control.manual)
    own = with_results.total()
    parts = [
        f'<section class="control" id="control-{esc(control.id)}">',
        f"<h2>{esc(control.id)} {esc(control.title)} {badge(control.status)}</h2>",
        f"<p><strong>Objective:</strong> {esc(control.objective)}</p>" if control.objective else "",
        f'<p class="muted">Control file <code>{esc(control.source_file)}</code></p>'
        if control.source_file
        else "",
        f"<h3>Framework requirements</h3><ul>{frameworks}</ul>" if frameworks else "",
        _history_block(timelines, history),
        f"<h3>Environments without a result</h3><ul>{''.join(elsewhere)}</ul>" if elsewhere else "",
        f"<h3>Manual statements (verified by hand)</h3><ul>{manual}</ul>" if manual else "",
        f"<h3>Results ({own})</h3>" if own else "",
        '<p class="filter-note muted">No result of this control matches the filter.</p>',
    ]
    return "\n".join(part for part in parts if part)


def _result(result: Result, control: ControlResult, values: Mapping[str, Any]) -> str:
    resource = result.resource
    facts: list[tuple[str, str]] = [
        ("Verifies", f"“{esc(control.requirements.get(result.check_id, ''))}”"),
        ("Check", f"<code>{esc(result.check_id)}</code>: {esc(result.title)}"),
        ("Finding", esc(result.message)),
        (
            "Resource",
            f"<code>{esc(resource.arn)}</code> ({esc(resource.type)}, account "
            f"{esc(resource.account_id)}, {esc(resource.region)})",
        ),
        ("Severity", esc(result.severity)),
    ]
    if result.waiver:
        w = result.waiver
        facts.append(
            (
                "Waiver",
                f"{'expired on' if w.expired else 'waived until'} {esc(w.expires)}: "
                f"{esc(w.justification)} (owner {esc(w.owner)}, ticket {esc(w.ticket)})",
            )
        )
    if result.error:
        facts.append(
            ("AWS error", f"<code>{esc(result.error.code)}</code>: {esc(result.error.message)}")
        )
    rows = "".join(f"<dt>{esc(name)}</dt><dd>{value}</dd>" for name, value in facts)
    return (
        f'<article class="result filterable" data-status="{esc(result.status)}" '
        f'data-env="{esc(result.environment)}"><h4>{badge(result.status)} '
        f"<code>{esc(result.check_id)}</code> on <code>{esc(resource.name)}</code> "
        f"in {esc(result.environment)}</h4><dl>{rows}</dl>"
        f'<div class="compare"><div><strong>Observed</strong>{_json(result.observed)}</div>'
        f"<div><strong>Expected</strong>{_json(result.expected)}</div></div>"
        f"{_evidence(result, values)}"
        + (
            f"<p><strong>Remediation:</strong> {esc(result.remediation)}</p>"
            if result.status in REMEDIABLE
            else ""
        )
        + "</article>"
    )


def _evidence(result: Result, values: Mapping[str, Any]) -> str:
    """The facts a verdict rests on: their calls and times, the hash, and their values
    (held in the fact, or, from schema 1.2, once in the report's evidence_values)."""
    if not result.evidence:
        return "<p><strong>Evidence:</strong> none recorded.</p>"
    rows = [
        [f"<code>{esc(f.name)}</code>", esc(", ".join(f.actions)), esc(f.fetched_at)]
        for f in result.evidence.facts
    ]
    raw = [
        [f.name, f.value if f.value_sha256 is None else values.get(f.value_sha256)]
        for f in result.evidence.facts
    ]
    return (
        f"{_table(['Fact', 'API actions', 'Fetched at'], rows, 'evidence')}"
        f"<p><strong>Evidence SHA-256:</strong> <code>{esc(result.evidence.sha256)}</code></p>"
        "<details><summary>Raw facts: the SHA-256 is of their canonical JSON, "
        "<code>json.dumps([[name, value], …], sort_keys=True)</code></summary>"
        f"{_json(raw)}</details>"
    )
