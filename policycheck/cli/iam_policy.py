"""`policycheck iam-policy`: the read-only IAM policy the checks need, the policy of the
credentials that run `--org`, or the trust policy of the role GitHub Actions assumes."""

import argparse
import json
from typing import Any

from policycheck.cli.options import Parents, csv_list, load, role_name
from policycheck.errors import EXIT_PASS


def repository(value: str) -> str:
    owner, _, name = value.partition("/")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if not owner or not name or not set(owner + name) <= allowed:
        raise argparse.ArgumentTypeError(f"{value!r}: expected OWNER/REPO, e.g. acme/platform")
    return value


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "iam-policy",
        parents=[parents.offline, parents.policy],
        help="print the read-only IAM policy the checks need",
        description="Print the IAM policy (JSON) granting exactly the read-only actions the "
        "selected checks call: by default the checks bound in the policy.",
    )
    parser.add_argument(
        "--checks",
        type=csv_list,
        default=[],
        metavar="LIST",
        help="these check ids instead of the policy's bound checks",
    )
    parser.add_argument(
        "--org-role",
        type=role_name,
        default=None,
        metavar="NAME",
        help="instead, the policy for the credentials that run `run --org --role-name NAME`: "
        "list the organisation's accounts and assume NAME in each",
    )
    parser.add_argument(
        "--archive",
        default=None,
        metavar="s3://BUCKET/PREFIX",
        help="instead, the policy of the role that runs `archive` to this location (and reads "
        "it back): writes under the prefix, never deletes; not the audit role",
    )
    parser.add_argument(
        "--trust",
        choices=("github",),
        default=None,
        help="instead, the trust policy of the role: `github` lets GitHub Actions assume it "
        "by OIDC (needs --repo)",
    )
    parser.add_argument(
        "--repo",
        type=repository,
        default=None,
        metavar="OWNER/REPO",
        help="with --trust github: the repository whose workflows may assume the role",
    )
    parser.add_argument(
        "--environment",
        default=None,
        metavar="NAME",
        help="with --trust github: only jobs in this GitHub environment (default: jobs on "
        "the default branch main); name it like the policy's environment",
    )
    parser.add_argument(
        "--account-id",
        default=None,
        metavar="ID",
        help="with --trust github: the account of the role and its OIDC provider (default: "
        "the policy environment's account_id)",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.errors import InputError
    from policycheck.iam.generator import org_policy, policy_document, readonly_policy

    document: dict[str, Any]
    if args.trust:
        document = _trust_policy(args)
    elif args.org_role:
        document = org_policy(args.org_role)
    elif args.archive:
        from policycheck.iam.generator import archive_policy
        from policycheck.publish.archive import ArchiveLocation

        location = ArchiveLocation.parse(args.archive)
        document = archive_policy(location.bucket, location.prefix)
    else:
        policy, _ = load(args)
        unknown = [c for c in args.checks or [] if c not in policy.registry.checks]
        if unknown:
            raise InputError(f"--checks: unknown check {unknown[0]!r}")
        if args.checks:
            document = readonly_policy(args.checks, policy.registry)
        else:
            document = policy_document(policy)
    print(json.dumps(document, indent=2))
    return EXIT_PASS


def _trust_policy(args: argparse.Namespace) -> dict[str, Any]:
    from policycheck.errors import InputError
    from policycheck.iam.generator import github_trust_policy

    if not args.repo:
        raise InputError("--trust github needs --repo OWNER/REPO")
    account = args.account_id
    if account is None and args.environment:
        policy, _ = load(args)
        configured = policy.environments.get(args.environment)
        accounts = [a for a in (configured.account_configs if configured else []) if a]
        account = accounts[0].account_id if len(accounts) == 1 else None
    if not (account and account.isdigit() and len(account) == 12):
        raise InputError(
            "--trust github: give --account-id (12 digits), or --environment naming a policy "
            "environment with one account_id"
        )
    return github_trust_policy(account, args.repo, args.environment)
