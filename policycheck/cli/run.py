"""`policycheck run`: audit live AWS resources against the policy."""

import argparse
from typing import Any

from policycheck.cli.options import (
    EXIT_CODES_HELP,
    Parents,
    add_endpoint_option,
    add_gate_options,
    announce_policy,
    configure_logging,
    csv_list,
    finish,
    load,
    positive,
    prepare_output,
    progress,
    role_name,
    warn_about_regions,
)


def shard(value: str) -> tuple[int, int]:
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise argparse.ArgumentTypeError("expected I/N with 1 <= I <= N, e.g. 2/4")
    return int(index), int(count)


def service_caps(value: str) -> dict[str, int]:
    """``8`` (every service) or ``s3=4,dynamodb=8`` or both (``8,s3=4``)."""
    caps: dict[str, int] = {}
    for item in csv_list(value):
        service, _, number = item.rpartition("=")
        if not number.isdigit() or int(number) < 1 or (service and not service.isalnum()):
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected N or SERVICE=N with N >= 1, e.g. 8,s3=4,dynamodb=8"
            )
        caps[service.lower() or "*"] = int(number)
    if not caps:
        raise argparse.ArgumentTypeError("expected N or SERVICE=N, e.g. s3=4,dynamodb=8")
    return caps


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "run",
        parents=[parents.common, parents.policy, parents.audit, parents.selection],
        help="audit live AWS resources against the policy",
        description="Audit live AWS resources against the policy, read-only; write reports and "
        "print a summary table.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_concurrency_options(parser)
    _add_organisation_options(parser)
    add_gate_options(parser, default="error")
    add_endpoint_option(
        parser, "send every API call to this endpoint, e.g. a moto server or LocalStack"
    )
    parser.set_defaults(execute=execute)


def _add_concurrency_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-per-service",
        type=service_caps,
        default=None,
        metavar="CAPS",
        help="at most this many calls in flight per service in one account and region, so "
        "that a service's rate limit is not hit while others keep the workers busy: N for "
        "every service, or SERVICE=N pairs, e.g. 8 or s3=8,dynamodb=4 (default: only "
        "--max-workers)",
    )
    parser.add_argument(
        "--processes",
        type=positive,
        default=None,
        metavar="N",
        help="processes fetching facts, sharing --max-workers and the per-service caps: one "
        "Python process makes about a thousand API calls a second, so large runs use every "
        "core (default: one per 1,500 facts, at most one per core; 1 where fork is missing)",
    )


def _add_organisation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--org",
        action="store_true",
        help="audit every active account of the AWS Organization (ListAccounts with the "
        "current credentials, e.g. of the management or a delegated administrator account) "
        "instead of the accounts the policy names; an environment with org_account_tags "
        "only covers accounts with those tags. Needs --role-name",
    )
    parser.add_argument(
        "--role-name",
        type=role_name,
        default=None,
        metavar="NAME",
        help="with --org: the role assumed in each account (arn:aws:iam::ACCOUNT:role/NAME). "
        "An account where it cannot be assumed has error results; the others still run",
    )
    parser.add_argument(
        "--shard",
        type=shard,
        default=None,
        metavar="I/N",
        help="only shard I of N (a stable hash of each environment, or of environment and "
        "account where the account is known before the run, as with --org), to spread a "
        "large policy or organisation over N CI jobs whose reports `merge` combines",
    )


def execute(args: argparse.Namespace) -> int:
    from policycheck.engine.planning import select
    from policycheck.engine.runner import RunOptions, run_audit
    from policycheck.errors import InputError

    configure_logging(args.verbose)
    policy, catalog = load(args)
    announce_policy(policy)
    if args.org != bool(args.role_name):
        raise InputError("--org and --role-name go together: --org --role-name NAME")
    _check_service_caps(policy, args.max_per_service)
    selection = select(policy, catalog, args.env, args.checks, args.controls, args.shard)
    prepare_output(args.output_dir)
    warn_about_regions(policy)
    options = RunOptions(
        endpoint_url=args.endpoint_url,
        max_workers=args.max_workers,
        service_caps=args.max_per_service,
        org_role=args.role_name,
        processes=args.processes,
        progress=progress(),
        deadline_seconds=args.deadline,
    )
    return finish(run_audit(policy, catalog, selection, options), args)


def _check_service_caps(policy: Any, caps: dict[str, int] | None) -> None:
    """--max-per-service names services the checks call (by their IAM prefix)."""
    from policycheck.engine.fetching import service_of
    from policycheck.errors import InputError

    facts = policy.registry.facts.values()
    known = sorted({service_of(spec) for spec in facts} - {"local"})
    unknown = [service for service in caps or {} if service != "*" and service not in known]
    if unknown:
        raise InputError(
            f"--max-per-service: unknown service {unknown[0]!r}; the checks call "
            + ", ".join(known)
        )
