"""`policycheck validate`: the policy and the controls, and whether the selection can
be assessed, without calling AWS."""

import argparse
import sys
from datetime import date
from typing import Any

from policycheck.cli.options import Parents, announce_policy, load, warn_about_regions
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "validate",
        parents=[parents.offline, parents.policy, parents.selection],
        help="validate the policy and the controls (schemas and cross-references)",
        description="Validate the policy and the control files: types, unknown keys, unknown "
        "check ids and resources, check parameters, the drill evidence directory; and that "
        "the selection (--env, --checks, --controls, default: everything) can be assessed. "
        "Warns about regions botocore does not know, controls that can never be assessed and "
        "waivers that expire soon. Exits 0 when valid, 2 otherwise.",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.engine.planning import (
        Scope,
        nothing_to_assess,
        select,
        why_no_result,
    )
    from policycheck.errors import InputError
    from policycheck.policy.waivers import lint_waivers

    policy, catalog = load(args)
    announce_policy(policy)
    selection = select(policy, catalog, args.env, args.checks, args.controls)
    targets = Scope.as_written(policy, catalog, selection).targets()
    if not targets:
        raise InputError(nothing_to_assess(policy, catalog, selection))
    _check_records_dir(policy)
    never = {
        f"{control.id}: {why.reason}; it will be reported NOT ASSESSED"
        for control in catalog.controls
        for environment in selection.environments
        if (why := why_no_result(policy, control, selection, environment, True)).status
        == "not_assessed"
    }
    for warning in sorted(never):
        print(f"warning: {warning}", file=sys.stderr)
    warn_about_regions(policy)
    print(
        f"{policy.path}: valid — {len(policy.environments)} environment(s), "
        f"{len(policy.document.resources)} resource group(s), {len(policy.bindings)} check "
        f"binding(s), {len(targets)} result(s) per run"
    )
    print(f"{catalog.directory}: valid — {len(catalog.controls)} control(s)")
    waivers = policy.document.waivers
    if waivers:
        print(f"{policy.path}: {len(waivers)} waiver(s)")
    for warning in lint_waivers(waivers, date.today()):
        print(f"warning: {policy.path}: {warning}", file=sys.stderr)
    return EXIT_PASS


def _check_records_dir(policy: Any) -> None:
    """Where the drill check reads its records: refused if unusable, warned if its history
    cannot be read in this checkout."""
    from policycheck.errors import InputError
    from policycheck.sources.repository.drill_table import DRILL_CHECK
    from policycheck.sources.repository.records import records_dir_problems

    if not any(b.check.id == DRILL_CHECK for b in policy.bindings):
        return
    problems = records_dir_problems(policy.records_dir, policy.repository)
    errors = [p.message for p in problems if p.severity == "error"]
    if errors:
        raise InputError("\n".join(f"{policy.path}: evidence_dir: {e}" for e in errors))
    for problem in problems:
        print(f"warning: {policy.path}: evidence_dir: {problem.message}", file=sys.stderr)
