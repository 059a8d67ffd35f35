"""Where a run looks: each selected environment in each of its accounts and regions.

Accounts are the policy's, or with ``--org`` every active account of the AWS Organization
(filtered by the environment's ``org_account_tags``), each reached through the named role.
Roles are assumed concurrently, once per account however many environments and regions
share it."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from policycheck.deadline import (
    DEFAULT_ROLE_SESSION_SECONDS,
    NO_DEADLINE,
    Deadline,
    DeadlineReached,
)
from policycheck.engine.aws import (
    AccessFailed,
    AccountAccess,
    AwsSetup,
    Connection,
    SessionFactory,
    base_identity,
    client_config,
    configured_endpoint,
    credentials_last_the_deadline,
    identify,
    open_session,
)
from policycheck.engine.pool import concurrently
from policycheck.errors import InputError, aws_error
from policycheck.policy.load import Policy

#: The longest session AWS grants when the run's own credentials are an assumed role.
CHAINED_SESSION_SECONDS = 3600
#: Roles assumed at once when an organisation has many accounts.
MAX_CONCURRENT_ASSUMES = 16


@dataclass(frozen=True)
class Where:
    """One environment in one account and region ("" while the account is unknown)."""

    environment: str
    account_id: str
    region: str


@dataclass(frozen=True)
class Unreachable:
    """A location whose account could not be reached: its results are errors."""

    where: Where
    role_arn: str
    failure: AccessFailed


@dataclass(frozen=True)
class AccountToAudit:
    """An account an environment is to be audited in, before it is reached."""

    environment: str
    #: The expected account; None: whichever the run's credentials are for.
    account_id: str | None
    role_arn: str | None
    #: From the organisation: a failure becomes error results, not the end of the run.
    discovered: bool = False
    #: Where the policy names the account, for messages.
    key: str = ""

    @property
    def shard_key(self) -> str:
        return f"{self.environment}/{self.account_id}" if self.account_id else self.environment


@dataclass(frozen=True)
class OrgAccount:
    account_id: str
    tags: dict[str, str]


@dataclass(frozen=True)
class Uncovered:
    """A selected environment the run has no account to audit in (with --org, no active
    account carries its tags): its controls are not assessed."""

    environment: str
    reason: str


@dataclass(frozen=True)
class Reach:
    """Where a run looks, and which selected environments it cannot look at."""

    locations: list["Connection | Unreachable"]
    uncovered: list[Uncovered]
    #: With --shard I/N: the shards that have any environment or account (an empty shard
    #: writes no report, and a merge must not miss it).
    occupied_shards: list[int] | None = None


def shard_of(key: str, count: int) -> int:
    """The shard (1..count) a key belongs to: stable across runs and machines."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % count + 1


def in_shard(accounts: list[AccountToAudit], index: int, count: int) -> list[AccountToAudit]:
    """The accounts of shard ``index`` of ``count``: environments, or (environment, account)
    pairs where the account is known before the run (configured or from the organisation)."""
    kept = [account for account in accounts if shard_of(account.shard_key, count) == index]
    if not kept:
        raise InputError(f"--shard {index}/{count}: no environment or account in this shard")
    return kept


def where_of(location: Connection | Unreachable) -> Where:
    """Where a reached or unreachable location is."""
    if isinstance(location, Unreachable):
        return location.where
    return Where(location.environment, location.account_id, location.region)


def static_locations(policy: Policy, environments: Sequence[str]) -> list[Where]:
    """The locations the policy names, without contacting AWS (accounts as configured)."""
    return [
        Where(account.environment, account.account_id or "", region)
        for account in configured_accounts(policy, environments)
        for region in policy.environments[account.environment].region_names
    ]


def configured_accounts(policy: Policy, environments: Sequence[str]) -> list[AccountToAudit]:
    """The accounts each environment names in the policy."""
    to_audit = []
    for name in environments:
        environment = policy.environments[name]
        for index, account in enumerate(environment.account_configs):
            if account is None:
                to_audit.append(AccountToAudit(name, None, None))
                continue
            key = f"environments.{name}" + (f".accounts[{index}]" if environment.accounts else "")
            to_audit.append(AccountToAudit(name, account.account_id, account.role_arn, key=key))
    return to_audit


def organization_accounts(list_client: Any, with_tags: bool) -> list[OrgAccount]:
    """The organisation's active accounts, all pages; tags read only when needed."""
    pages = list_client.get_paginator("list_accounts").paginate()
    active = [
        account
        for page in pages
        for account in page["Accounts"]
        if (account.get("State") or account.get("Status")) == "ACTIVE"
    ]

    def tags_of(account_id: str) -> dict[str, str]:
        if not with_tags:
            return {}
        tag_pages = list_client.get_paginator("list_tags_for_resource").paginate(
            ResourceId=account_id
        )
        return {tag["Key"]: tag["Value"] for page in tag_pages for tag in page["Tags"]}

    tags = concurrently(tags_of, [a["Id"] for a in active], MAX_CONCURRENT_ASSUMES)
    return sorted(
        (OrgAccount(a["Id"], t) for a, t in zip(active, tags, strict=True)),
        key=lambda account: account.account_id,
    )


def org_accounts(
    policy: Policy,
    environments: Sequence[str],
    list_client: Any,
    role_name: str,
    partition: str,
) -> tuple[list[AccountToAudit], list[Uncovered]]:
    """Every active organisation account, for every environment whose tags it carries;
    the environments no account matches. InputError when none matches at all: the run
    would assess nothing."""
    wanted = {name: policy.environments[name].org_account_tags or {} for name in environments}
    try:
        accounts = organization_accounts(list_client, any(wanted.values()))
    except ClientError as exc:
        code, message = aws_error(exc)
        raise InputError(
            f"--org: cannot list the organisation's accounts: {exc.operation_name}: "
            f"{code}: {message}"
        ) from None
    except (BotoCoreError, DeadlineReached) as exc:
        raise InputError(f"--org: cannot list the organisation's accounts: {exc}") from None
    to_audit = [
        AccountToAudit(
            name,
            account.account_id,
            f"arn:{partition}:iam::{account.account_id}:role/{role_name}",
            discovered=True,
        )
        for name in environments
        for account in accounts
        if wanted[name].items() <= account.tags.items()
    ]
    covered = {audited.environment for audited in to_audit}
    uncovered = [
        Uncovered(
            name,
            f"no active account of the organisation carries the tags {_tags(wanted[name])} "
            f"(org_account_tags of environments.{name}; {len(accounts)} active account(s) seen)"
            if wanted[name]
            else f"the organisation has no active account ({len(accounts)} seen)",
        )
        for name in environments
        if name not in covered
    ]
    if not to_audit:
        raise InputError("--org: nothing to assess: " + "; ".join(u.reason for u in uncovered))
    return to_audit, uncovered


def _tags(tags: dict[str, str]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in sorted(tags.items())) + "}"


def open_locations(
    policy: Policy,
    environments: Sequence[str],
    *,
    endpoint_url: str | None,
    max_workers: int,
    session_factory: SessionFactory,
    org_role: str | None = None,
    shard: tuple[int, int] | None = None,
    deadline: Deadline = NO_DEADLINE,
    role_session_seconds: int = DEFAULT_ROLE_SESSION_SECONDS,
    clock: Callable[[], datetime] | None = None,
) -> Reach:
    """Reach every (environment, account, region) of the selection.

    Raises InputError when the run's own credentials do not work, the organisation cannot
    be listed or has no account for any selected environment, a configured account cannot
    be reached or is another account, or the shard is empty. An organisation account
    whose role cannot be assumed is Unreachable; an environment without any account is
    Uncovered (in every shard: a merge keeps it once).
    """
    home_region = policy.environments[environments[0]].region_names[0]
    setup = AwsSetup(
        session=open_session(session_factory, home_region),
        endpoint_url=configured_endpoint(endpoint_url),
        config=client_config(max_workers),
        deadline=deadline,
        role_session_seconds=role_session_seconds,
        clock=clock,
    )
    base = base_identity(setup, home_region)
    credentials_last_the_deadline(setup)
    if ":assumed-role/" in base.caller_arn and setup.role_session_seconds > CHAINED_SESSION_SECONDS:
        # AWS caps a session assumed from an assumed role (role chaining) at one hour.
        setup = replace(setup, role_session_seconds=CHAINED_SESSION_SECONDS)
    uncovered: list[Uncovered] = []
    if org_role:
        organizations = setup.client("organizations", "us-east-1")
        accounts, uncovered = org_accounts(
            policy, environments, organizations, org_role, base.caller_arn.split(":")[1]
        )
    else:
        accounts = configured_accounts(policy, environments)
    occupied = None
    if shard is not None:
        occupied = sorted({shard_of(account.shard_key, shard[1]) for account in accounts})
        accounts = in_shard(accounts, *shard)
    access = _reach_accounts(accounts, setup, home_region, base)
    locations: list[Connection | Unreachable] = []
    for account in accounts:
        reached = access[account.role_arn]
        for region in policy.environments[account.environment].region_names:
            if isinstance(reached, AccessFailed):
                where = Where(account.environment, account.account_id or "", region)
                locations.append(Unreachable(where, account.role_arn or "", reached))
                continue
            _expect_account(account, reached)
            locations.append(Connection(account.environment, region, reached, setup))
    return Reach(locations, uncovered, occupied)


def _reach_accounts(
    accounts: list[AccountToAudit], setup: AwsSetup, region: str, base: AccountAccess
) -> dict[str | None, AccountAccess | AccessFailed]:
    """Assume each distinct role once, concurrently; None maps to the base credentials."""
    roles = sorted({account.role_arn for account in accounts if account.role_arn})
    tolerated = {account.role_arn for account in accounts if account.discovered}

    def reach(role_arn: str) -> AccountAccess | AccessFailed:
        """An organisation account's failure, or a configured one's that says nothing
        about its credentials (throttling, no answer, the deadline), errs only its own
        results; a configured role that is refused ends the run."""
        try:
            return identify(setup, region, role_arn)
        except AccessFailed as failure:
            if role_arn in tolerated or failure.transient:
                return failure
            failure.role_arn = role_arn
            raise

    try:
        answers = concurrently(reach, roles, MAX_CONCURRENT_ASSUMES)
    except AccessFailed as failure:
        role = failure.role_arn
        environment = next(p.environment for p in accounts if p.role_arn == role)
        raise InputError(f"environment {environment!r}: cannot assume {role}: {failure}") from None
    return {None: base, **dict(zip(roles, answers, strict=True))}


def _expect_account(account: AccountToAudit, access: AccountAccess) -> None:
    if account.account_id and access.account_id != account.account_id:
        raise InputError(
            f"environment {account.environment!r}: credentials are for account "
            f"{access.account_id}, but the policy says {account.key}.account_id is "
            f"{account.account_id}"
        )
