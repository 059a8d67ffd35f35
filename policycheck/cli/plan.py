"""`policycheck plan PLAN.json [PLAN.json ...] --env ENV`: the policy judged on Terraform
plans (``terraform show -json``) before they are applied."""

import argparse
from pathlib import Path
from typing import Any

from policycheck.cli.options import (
    Parents,
    add_baseline_option,
    add_gate_options,
    announce_policy,
    configure_logging,
    finish,
    load,
    load_report,
    prepare_output,
)

DESCRIPTION = """\
Judge the policy on Terraform plans before they are applied: the same checks, reports and
views as run, with the facts read from the plans' resources; several plans (one per
Terragrunt module) make one report. A value a check needs that is known only after apply
is an error, a resource the plan deletes fails, a resource the plans do not have is
not_in_plan, and a check that needs the live account (images, running tasks, drill
evidence) is not_assessed. No AWS call. Make a plan file with:
  terraform plan -out tfplan && terraform show -json tfplan > plan.json
"""
EXIT_CODES = """\
exit codes (of the results that gate: --min-severity and above, not waived; with
--fail-on-new, only those whose status differs from the earlier report):
  0  every result the plan judges passes; resources the policy names that the plan does
     not have, and checks a plan cannot judge, are stated with their counts, not gated
  1  a gating result fails after the apply, or the plan deletes a resource the policy names
  3  no failure, but a gating result is an error (a value it needs is unknown until apply;
     reported only with --fail-on fail), or something selected was not assessed
  2  bad input (not JSON, a state instead of a plan, another format version, an empty
     plan), or the plans judge nothing: no report written
  70 internal error (a bug): rerun with --verbose for the traceback
"""

FAIL_ON = (
    "what makes the exit code non-zero: error (failures after the apply and deletions "
    "exit 1; an error, such as a value it needs that is known only after apply, exits 3), "
    "fail (failures exit 1; errors are only reported), none (0 once the report is written); "
    "not_in_plan results and checks a plan cannot judge never gate"
)


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "plan",
        parents=[parents.offline, parents.policy, parents.output, parents.filters],
        help="judge Terraform plans (terraform show -json) before they are applied",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "plans",
        type=Path,
        nargs="+",
        metavar="PLAN.json",
        help="terraform show -json output, or a directory of such files (every *.json in it "
        "that is Terraform output); a file given twice counts once",
    )
    parser.add_argument(
        "--env",
        default=None,
        metavar="ENV",
        help="the environment of the policy the plans are for (default: the policy's only one)",
    )
    add_gate_options(parser, default="error", fail_on_help=FAIL_ON)
    add_baseline_option(parser)
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.engine.plan import judge_plan
    from policycheck.engine.planning import select
    from policycheck.errors import InputError
    from policycheck.sources.terraform.planfile import read_plans

    configure_logging(args.verbose)
    policy, catalog = load(args)
    announce_policy(policy)
    environment = args.env
    if environment is None:
        if len(policy.environments) != 1:
            raise InputError(
                "--env: which environment are the plans for? one of "
                + ", ".join(policy.environments)
            )
        [environment] = policy.environments
    selection = select(policy, catalog, [environment], args.checks, args.controls)
    baseline = load_report(args.fail_on_new) if args.fail_on_new else None
    plans = read_plans(args.plans)
    prepare_output(args.output_dir, [*args.plans, *([args.fail_on_new] if baseline else [])])
    return finish(judge_plan(policy, catalog, selection, plans), args, baseline)
