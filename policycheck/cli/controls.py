"""`policycheck controls`: the control catalog and the checks that evidence each control;
with --framework, which requirements of a framework the controls (or a run) evidence."""

import argparse
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policycheck.cli.options import Parents, load, load_report
from policycheck.errors import EXIT_PASS, InputError
from policycheck.policy.crosswalk import FRAMEWORKS, CheckStatuses, evidence_for
from policycheck.report.statuses import STATUS_LABEL

if TYPE_CHECKING:
    from policycheck.policy.controls import Catalog
    from policycheck.report.model import ControlResult, Report

FRAMEWORK_IDS = ", ".join(FRAMEWORKS)
LISTING_FORMATS = ("table", "oscal-catalog")


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "controls",
        parents=[parents.offline, parents.policy],
        help="list the control catalog, or a framework's requirements the controls evidence",
        description="Without --framework: each control and the checks that evidence it. "
        "With --framework ID: each requirement of that framework that a control maps to "
        "(the controls' frameworks: key), the controls and checks that evidence it and why; "
        "with --report also each requirement's status in that run from its checks' results, "
        "how many of the requirements the run evidenced (its checks judged: pass, fail, "
        "error or waived, whatever the verdict) and which it did not (its checks not "
        "assessed, not in the plan, not applicable or not selected).",
    )
    parser.add_argument(
        "--framework",
        metavar="ID",
        help=f"a framework: {FRAMEWORK_IDS}",
    )
    parser.add_argument(
        "--format",
        choices=LISTING_FORMATS,
        default="table",
        help="table (default), or oscal-catalog: the controls as a NIST OSCAL catalog "
        "(JSON; what `render --format oscal` writes as catalog.json)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="REPORT",
        help="with --framework: a report.json; its controls' mappings and their checks' "
        "statuses are listed instead of the catalog's",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    if args.report and not args.framework:
        raise InputError("--report: only with --framework")
    if args.format == "oscal-catalog":
        if args.framework is not None:
            raise InputError("--format oscal-catalog: not with --framework")
        print(oscal_catalog(load(args)[1]))
        return EXIT_PASS
    if args.framework is not None:
        if args.framework not in FRAMEWORKS:
            raise InputError(
                f"--framework: unknown framework {args.framework!r}; choose from {FRAMEWORK_IDS}"
            )
        report = load_report(args.report) if args.report else None
        print(framework_listing(args, report))
        return EXIT_PASS
    _, catalog = load(args)
    rows = [
        [
            control.id,
            control.title,
            "\n".join(control.check_ids) or "(none: not assessed)",
            "\n".join(f"{name} {', '.join(mapped)}" for name, mapped in control.frameworks.items()),
        ]
        for control in catalog.controls
    ]
    print(tabulate(rows, headers=["Control", "Title", "Checks", "Frameworks"], tablefmt="simple"))
    return EXIT_PASS


def oscal_catalog(catalog: "Catalog") -> str:
    """The catalog as an OSCAL catalog, last modified when its newest control file was."""
    import json
    from datetime import UTC, datetime

    from policycheck.render.oscal import CatalogControl, catalog_document

    newest = max(path.stat().st_mtime for path in catalog.files.values())
    document = catalog_document(
        [CatalogControl.of_control(control) for control in catalog.controls],
        datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds"),
    )
    return json.dumps(document, indent=2)


def _only(control: "ControlResult", environment: str) -> "ControlResult":
    """The control as it stands in one environment."""
    return control.model_copy(
        update={"environments": {environment: control.environments[environment]}}
    )


def framework_listing(args: argparse.Namespace, report: "Report | None") -> str:
    """The requirements of --framework and the controls evidencing them, with their
    statuses in ``report`` when given."""
    from tabulate import tabulate

    from policycheck.report.model import JUDGED

    framework = FRAMEWORKS[args.framework]
    controls: list[Any] = list(report.controls) if report else list(load(args)[1].controls)
    by_id = {control.id: control for control in controls}
    pairs = evidence_for(framework.id, controls)
    requirements = list(dict.fromkeys(e.requirement for e in pairs))
    plural = "" if len(requirements) == 1 else "s"
    heading = f"{framework.title} ({framework.id}): {len(requirements)} requirement{plural} mapped"
    if not pairs:
        return heading + " (no control maps to this framework)"
    checks = CheckStatuses(report.results) if report else None
    statuses = {}
    rows = []
    for e in pairs:
        row = [e.requirement, e.control_id, textwrap.fill(", ".join(e.checks), 30)]
        if checks:
            control = by_id[e.control_id]
            statuses[e] = checks.requirement_status(e, control)
            environments = ", ".join(
                f"{env} {STATUS_LABEL[checks.requirement_status(e, _only(control, env))]}"
                for env in control.environments
            )
            row += [STATUS_LABEL[statuses[e]], environments]
        rows.append([*row, textwrap.fill(e.reason, 70)])
    headers = [
        "Requirement",
        "Control",
        "Checks",
        *(["Status", "By environment"] if report else []),
        "Why",
    ]
    listing = tabulate(rows, headers=headers, tablefmt="simple")
    if not report:
        return heading + "\n\n" + listing
    evidenced = {e.requirement for e in pairs if statuses[e] in JUDGED}
    missing = [requirement for requirement in requirements if requirement not in evidenced]
    heading += (
        f"; the run of {report.run.started_at} evidenced {len(evidenced)} of them "
        "(the checks mapped to each judged: pass, fail, error or waived)"
    )
    if missing:
        heading += "\nnot evidenced by this report (none of its checks judged): " + ", ".join(
            missing
        )
    return heading + "\n\n" + listing
