"""Seeding a simulated AWS account (moto) from a policy, for the demo, the tests and the
benchmarks: every resource the policy names is created from its type's example, and every
bound check's compliant example is applied to it, except where a deviation replaces it.

Never used against AWS: the clients carry dummy credentials and a local endpoint.
"""

import json
import os
import re
import string
import subprocess
import threading
from collections.abc import Container, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError

from policycheck.demo.repository import GIT_IDENTITY as GIT_IDENTITY
from policycheck.demo.repository import RepositoryWriter, git
from policycheck.engine.aws import client_config, make_client
from policycheck.errors import aws_error
from policycheck.paths import bundled_catalog_dir
from policycheck.plugin.examples import Call, Json
from policycheck.plugin.resources import ResourceType
from policycheck.policy.bindings import Binding, ResourceInstance
from policycheck.policy.load import Policy
from policycheck.policy.templates import expand
from policycheck.sources.repository.checkout import REPOSITORY
from policycheck.sources.repository.records import RECORD_STORE

DEMO_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
#: moto reads a new ECS service's running count from this variable.
MOTO_ECS_RUNNING = "MOTO_ECS_SERVICE_RUNNING"
#: Placeholders the seeder computes, beside the resource's names and the check's params.
SEEDED = (
    "bucket_location",
    "other_region",
    "new_kms_key_arn",
    "date_10_days_ago",
    "yesterday",
)
_ENVIRON_LOCK = threading.Lock()
_WHOLE = re.compile(r"^\{([^{}]+)\}$")


def demo_session(region: str) -> boto3.Session:
    """A session with dummy credentials: it can only ever talk to the local endpoint."""
    return boto3.Session(
        aws_access_key_id=DEMO_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=DEMO_CREDENTIALS["aws_secret_access_key"],
        region_name=region,
    )


@dataclass(frozen=True)
class Deviation:
    """A deliberate violation: this check fails on this resource in this environment."""

    environment: str
    check_id: str
    resource_name: str


@dataclass
class Account:
    """Writers for one simulated account and region, one client per service; and the git
    repository where drill records are committed."""

    endpoint_url: str
    region: str
    records_dir: Path
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            session = demo_session(self.region)
            config = client_config(4)
            self._clients[service] = make_client(
                session, service, self.region, self.endpoint_url, config
            )
        return self._clients[service]

    @cached_property
    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])


def seed(
    policy: Policy,
    endpoint_url: str,
    environments: list[str] | None = None,
    deviations: tuple[Deviation, ...] = (),
) -> None:
    """Create every resource the policy names and make every bound check pass, except the
    deviated (check, resource) pairs, which get the check's deviation instead. A deviation
    applies to the resource wherever it is seen (an ECR repository shared by two
    environments deviates in both)."""
    seeder = _Seeder(policy, endpoint_url, _deviated(policy, deviations))
    with _environ(MOTO_ECS_RUNNING, "1"):
        for environment in environments or list(policy.environments):
            seeder.seed_environment(environment)


def seed_repository(
    policy: Policy, environments: list[str] | None = None, deviations: tuple[Deviation, ...] = ()
) -> None:
    """Write only the platform repository (``policy.repository``) of the environments'
    bound checks, as :func:`seed` writes it, without AWS: what a plan run judges besides
    the plans."""
    seeder = _Seeder(policy, "", _deviated(policy, deviations))
    for environment in environments or list(policy.environments):
        seeder.configure(environment, {REPOSITORY})


def _deviated(policy: Policy, deviations: tuple[Deviation, ...]) -> set[tuple[str, str, str, str]]:
    """The target of each deviation; ValueError for one the policy does not bind."""
    found = set()
    for deviation in deviations:
        targets = [
            _target(binding, instance)
            for binding, instance in _bound(policy, deviation.environment)
            if binding.check.id == deviation.check_id and instance.name == deviation.resource_name
        ]
        if not targets:
            raise ValueError(f"{deviation.check_id} is not bound to {deviation.resource_name}")
        found.update(targets)
    return found


def _target(binding: Binding, instance: ResourceInstance) -> tuple[str, str, str, str]:
    """A check on a physical resource: environments sharing a resource share its target."""
    return (binding.check.id, instance.region, instance.parent, instance.name)


def _bound(policy: Policy, environment: str) -> list[tuple[Binding, ResourceInstance]]:
    return [
        (binding, instance)
        for binding in policy.bindings
        if binding.applies_in(environment)
        for group in binding.resource_groups
        for instance in policy.resources_in(group, environment)
    ]


class _Seeder:
    def __init__(
        self, policy: Policy, endpoint_url: str, deviated: set[tuple[str, str, str, str]]
    ) -> None:
        self.policy = policy
        self.endpoint_url = endpoint_url
        self.deviated = deviated
        self.accounts: dict[str, Account] = {}

    def account(self, region: str) -> Account:
        if region not in self.accounts:
            self.accounts[region] = Account(self.endpoint_url, region, self.policy.records_dir)
        return self.accounts[region]

    def seed_environment(self, environment: str) -> None:
        """Create the environment's resources, then configure each for its checks."""
        bound = _bound(self.policy, environment)
        for group, written in self.policy.document.resources.items():
            kind = self.policy.registry.resource_types[written.type]
            for instance in self.policy.resources_in(group, environment):
                overrides, created_in = self._creation_overrides(bound, instance)
                context = _Context(self.account(instance.region), instance, kind, None)
                for call in kind.example:
                    placed = replace(call, region=created_in) if created_in else call
                    self.run(placed, context, overrides.get(call.operation, {}))
        self.configure(environment)

    def configure(self, environment: str, services: Container[str] | None = None) -> None:
        """Configure each bound resource for its checks: their compliant calls, or a
        deviation's (only the calls to ``services`` when given)."""
        for binding, instance in _bound(self.policy, environment):
            examples = binding.check.examples
            deviated = _target(binding, instance) in self.deviated
            calls = examples.deviation.calls if deviated else examples.compliant
            kind = self.policy.registry.resource_types[binding.check.resource_type]
            context = _Context(self.account(instance.region), instance, kind, binding)
            for call in calls:
                if services is None or call.service in services:
                    self.run(call, context)

    def _creation_overrides(
        self, bound: list[tuple[Binding, ResourceInstance]], instance: ResourceInstance
    ) -> tuple[dict[str, dict[str, Any]], str]:
        """Creation arguments by operation, from the checks bound to the instance, and the
        region a deviation creates it in instead of its own ("": its own)."""
        overrides: dict[str, dict[str, Any]] = {}
        created_in = ""
        for binding, other in bound:
            if other != instance:
                continue
            examples = binding.check.examples
            deviated = _target(binding, instance) in self.deviated
            chosen = examples.deviation.at_creation if deviated else examples.at_creation
            for operation, args in chosen.items():
                overrides.setdefault(operation, {}).update(args)
            if deviated and examples.deviation.created_in:
                created_in = examples.deviation.created_in
        return overrides, created_in

    def run(self, call: Call, context: "_Context", overrides: Mapping[str, Any] = {}) -> None:
        """Make one call of an example with its templates filled in."""
        args = render({**call.args, **overrides}, context)
        account = self.account(str(render(call.region, context)))
        if call.service == RECORD_STORE:
            record = args["record"]
            commit_record(account.records_dir, record, f"DR drill {record['drill']}")
            return
        if call.service == REPOSITORY:
            getattr(RepositoryWriter(self.policy.repository), call.operation)(**args)
            return
        try:
            getattr(account.client(call.service), call.operation)(**args)
        except ClientError as exc:
            if aws_error(exc)[0] not in call.ignore:
                raise


class _Params:
    """A check's parameters as templates see them: name templates expanded."""

    def __init__(self, params: Any, variables: Mapping[str, str]) -> None:
        self._params, self._variables = params, variables

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._params, name)
        return expand(value, self._variables) if isinstance(value, str) else value


class _Context(dict[str, Any]):
    """The values placeholders take for one resource (computed ones on first use)."""

    def __init__(
        self,
        account: Account,
        instance: ResourceInstance,
        kind: ResourceType,
        binding: Binding | None,
    ) -> None:
        region = instance.region
        super().__init__(
            name=instance.name,
            parent=instance.parent,
            region=region,
            env=instance.variables.get("env", ""),
            mcp=instance.variables.get("mcp", ""),
            params=_Params(binding.params, instance.variables) if binding else None,
        )
        self.account = account
        self.kind = kind

    def __missing__(self, key: str) -> Any:
        region = self["region"]
        today = datetime.now(UTC).date()
        computed: dict[str, Any] = {
            "account_id": lambda: self.account.account_id,
            "arn": lambda: self.kind.arn(self["name"], region, self["account_id"], self["parent"]),
            "bucket_location": lambda: (
                None if region == "us-east-1" else {"LocationConstraint": region}
            ),
            "other_region": lambda: "eu-west-1" if region != "eu-west-1" else "eu-central-1",
            "new_kms_key_arn": lambda: self.account.client("kms").create_key()["KeyMetadata"][
                "Arn"
            ],
            "date_10_days_ago": lambda: (today - timedelta(days=10)).isoformat(),
            "yesterday": lambda: (today - timedelta(days=1)).isoformat(),
        }
        if key not in computed:
            raise KeyError(key)
        self[key] = computed[key]()
        return self[key]


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """An example's value with its placeholders filled in (see policycheck.plugin.examples)."""
    if isinstance(value, Json):
        return json.dumps(render(value.document, context))
    if isinstance(value, Mapping):
        rendered = {key: render(item, context) for key, item in value.items()}
        return {key: item for key, item in rendered.items() if item is not None}
    if isinstance(value, list | tuple):
        return [render(item, context) for item in value]
    if not isinstance(value, str):
        return value
    whole = _WHOLE.match(value)
    if whole:
        return string.Formatter().get_field(whole.group(1), (), context)[0]
    return value.format_map(context)


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    with _ENVIRON_LOCK:
        previous = os.environ.get(name)
        os.environ[name] = value
        try:
            yield
        finally:
            if previous is None:
                del os.environ[name]
            else:
                os.environ[name] = previous


def commit_record(records_dir: Path, record: dict[str, Any], message: str) -> Path:
    """Write a drill record as ``<drill>/<date>-<environment>.yaml`` and commit it; the
    records directory becomes a git repository of its own if it is in none."""
    records_dir = records_dir.resolve()
    if records_dir.is_relative_to(bundled_catalog_dir().resolve()):
        raise ValueError(f"refusing to write demo evidence into {records_dir}")
    records_dir.mkdir(parents=True, exist_ok=True)
    inside = (
        subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=records_dir,
            capture_output=True,
            text=True,
            check=False,
        ).returncode
        == 0
    )
    if not inside:
        git(records_dir, "init", "--quiet")
    path: Path = (
        records_dir / str(record["drill"]) / f"{record['date']}-{record['environment']}.yaml"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    git(records_dir, "add", str(path))
    git(records_dir, "commit", "--quiet", "-m", message)
    return path
