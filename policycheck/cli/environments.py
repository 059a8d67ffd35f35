"""`policycheck environments`: the policy's environments, for a CI matrix."""

import argparse
import json
from typing import Any

from policycheck.cli.options import Parents, load
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "environments",
        parents=[parents.offline, parents.policy],
        help="list the policy's environments with their regions, accounts and roles",
        description="List the environments of the policy with their regions, accounts and "
        "roles, so that a CI workflow builds its matrix from policy.yaml instead of "
        "repeating it. --json prints a list of objects: name, region (the first), regions, "
        "account_id, role_arn (those of the first account), accounts.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    policy, _ = load(args)
    listed = []
    for name, environment in policy.environments.items():
        accounts = [
            {"account_id": a.account_id, "role_arn": a.role_arn}
            for a in environment.account_configs
            if a is not None
        ]
        listed.append(
            {
                "name": name,
                "region": environment.region_names[0],
                "regions": environment.region_names,
                "account_id": accounts[0]["account_id"] if accounts else None,
                "role_arn": accounts[0]["role_arn"] if accounts else None,
                "accounts": accounts,
            }
        )
    if args.json:
        print(json.dumps(listed))
        return EXIT_PASS
    rows = [
        [
            name,
            ", ".join(environment.region_names),
            ", ".join(a.account_id or "" for a in environment.account_configs if a is not None)
            or "(the credentials' account)",
        ]
        for name, environment in policy.environments.items()
    ]
    print(tabulate(rows, headers=["Environment", "Regions", "Accounts"], tablefmt="simple"))
    return EXIT_PASS
