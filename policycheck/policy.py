"""The policy file: environments, named resources, and which checks apply to them."""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from policycheck.deadline import DEFAULT_ROLE_SESSION_SECONDS, parse_duration
from policycheck.discovery import is_pattern
from policycheck.errors import InputError
from policycheck.evidence import repository_root
from policycheck.registry import CheckParams, CheckSpec, all_checks
from policycheck.resources import RESOURCE_TYPES
from policycheck.templates import expand, placeholders
from policycheck.validation import (
    StrictModel,
    describe_errors,
    raise_if_errors,
    read_yaml,
    sha256_file,
)
from policycheck.waivers import MAX_WAIVER_DAYS, Waiver

ResourceTypeName = Literal[
    "s3_bucket", "dynamodb_table", "ecr_repository", "ecs_service", "ssm_parameter", "dr_drill"
]


REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
ACCOUNT_ID_PATTERN = r"^\d{12}$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"


class AccountConfig(StrictModel):
    """One account of an environment and, optionally, the role that reaches it."""

    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN, description="Account id (quoted).")
    role_arn: str | None = Field(
        None, pattern=ROLE_ARN_PATTERN, description="Role to assume in this account."
    )


class EnvironmentConfig(StrictModel):
    """One environment: the regions and accounts its resources live in, and how to reach
    them. One region (`region`) or several (`regions`); the credentials' own account, one
    account (`account_id`, `role_arn`) or several (`accounts`)."""

    region: str | None = Field(None, pattern=REGION_PATTERN, description="AWS region.")
    regions: list[str] | None = Field(
        None, min_length=1, description="Several AWS regions, each audited alike."
    )
    account_id: str | None = Field(
        None,
        pattern=ACCOUNT_ID_PATTERN,
        description="Expected account id (quoted); a run against another account stops.",
    )
    role_arn: str | None = Field(
        None, pattern=ROLE_ARN_PATTERN, description="Role to assume for this environment."
    )
    accounts: list[AccountConfig] | None = Field(
        None, min_length=1, description="Several accounts, each with its own role."
    )
    org_account_tags: dict[str, str] | None = Field(
        None,
        min_length=1,
        description="With `run --org`: only the organisation's accounts carrying all these tags.",
    )

    @field_validator("regions")
    @classmethod
    def _region_names(cls, regions: list[str] | None) -> list[str] | None:
        for region in regions or []:
            if not re.match(REGION_PATTERN, region):
                raise ValueError(f"{region!r} is not an AWS region name")
        if regions and len(set(regions)) != len(regions):
            raise ValueError("a region is listed twice")
        return regions

    @model_validator(mode="after")
    def _one_way_each(self) -> "EnvironmentConfig":
        if (self.region is None) == (self.regions is None):
            raise ValueError("give either `region` or `regions`")
        if self.accounts is not None and (self.account_id or self.role_arn):
            raise ValueError("give either `accounts` or `account_id`/`role_arn`")
        ids = [account.account_id for account in self.accounts or []]
        if len(set(ids)) != len(ids):
            raise ValueError("an account is listed twice in `accounts`")
        return self

    @property
    def region_names(self) -> list[str]:
        """Every region of the environment, in the order written."""
        return self.regions or [self.region or ""]

    @property
    def account_configs(self) -> list[AccountConfig | None]:
        """The configured accounts; ``[None]``: whichever account the credentials are for."""
        if self.accounts:
            return list(self.accounts)
        if self.account_id or self.role_arn:
            return [
                AccountConfig.model_construct(account_id=self.account_id, role_arn=self.role_arn)
            ]
        return [None]


class ResourceGroup(StrictModel):
    """Resources of one type named by a pattern; ``{mcp}`` expands to one per MCP."""

    type: ResourceTypeName
    name: str = Field(min_length=1, description="Name pattern: {env}, {mcp}, {region}.")
    cluster: str | None = Field(
        None, min_length=1, description="ECS services only: the cluster's name pattern."
    )
    regions: list[str] | None = Field(
        None,
        min_length=1,
        description="Only in these regions of an environment (default: all its regions).",
    )
    allow_empty: bool = Field(
        False,
        description="A name pattern (* or ?) may match no resource. By default a pattern "
        "that matches nothing fails every check bound to it.",
    )
    description: str | None = None

    @field_validator("name", "cluster")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            placeholders(value)
        return value

    @model_validator(mode="after")
    def _cluster_for_services(self) -> "ResourceGroup":
        if (self.type == "ecs_service") != (self.cluster is not None):
            raise ValueError("`cluster` is required for ecs_service and only allowed there")
        if self.allow_empty and not is_pattern(self.name):
            raise ValueError("`allow_empty` applies to name patterns (with * or ?) only")
        return self

    def uses_mcp(self) -> bool:
        return "{mcp}" in self.name or "{mcp}" in (self.cluster or "")


class CheckBinding(StrictModel):
    """Apply one check, with parameters, to named resources."""

    check: str = Field(description="Check id.")
    resources: list[str] = Field(min_length=1, description="Keys of `resources`.")
    params: dict[str, Any] = Field(default_factory=dict, description="The check's parameters.")
    environments: list[str] | None = Field(
        None, min_length=1, description="Only in these environments (default: all)."
    )


class RunSettings(StrictModel):
    """How a run behaves (the command line may override)."""

    deadline: str = Field(
        "25m",
        description="When a run stops calling AWS and writes its report with what it has "
        "(facts not read are errors): e.g. 90s, 25m, 1h30m. `run --deadline` overrides.",
    )
    role_session_seconds: int = Field(
        DEFAULT_ROLE_SESSION_SECONDS,
        ge=900,
        le=43200,
        description="Lifetime of each assumed-role session (refreshed 15 minutes before "
        "it ends); at most 3600 when the run's own credentials are an assumed role.",
    )

    @field_validator("deadline")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def deadline_seconds(self) -> float:
        return parse_duration(self.deadline)


class PolicyDocument(StrictModel):
    """The policy file as written."""

    version: Literal[1]
    mcps: list[str] = Field(default_factory=list, description="MCP service names ({mcp}).")
    environments: dict[str, EnvironmentConfig] = Field(min_length=1)
    resources: dict[str, ResourceGroup] = Field(min_length=1)
    checks: list[CheckBinding] = Field(min_length=1)
    evidence_dir: str = Field(
        "docs/compliance/dr-test-evidence",
        description="DR drill evidence records, relative to the policy file's directory.",
    )
    waivers: list[Waiver] = Field(default_factory=list, description="Accepted failures.")
    run: RunSettings = Field(default_factory=RunSettings, description="Run settings.")


@dataclass(frozen=True)
class Binding:
    """A validated binding: the check, its parsed parameters, the resource groups."""

    index: int
    check: CheckSpec
    params: CheckParams
    resource_groups: tuple[str, ...]
    #: None: every environment.
    environments: tuple[str, ...] | None = None

    def applies_in(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments


@dataclass(frozen=True)
class ResourceInstance:
    """One concrete resource a group names in an environment."""

    name: str
    parent: str
    variables: dict[str, str]
    region: str


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy file."""

    path: Path
    sha256: str
    document: PolicyDocument
    bindings: tuple[Binding, ...]
    #: Where drill evidence may be read from; None: the policy's repository (see
    #: ``repository``). The demo sets its scratch directory.
    evidence_root: Path | None = None

    @property
    def environments(self) -> dict[str, EnvironmentConfig]:
        return self.document.environments

    @property
    def evidence_dir(self) -> Path:
        return (self.path.parent / self.document.evidence_dir).resolve()

    @cached_property
    def repository(self) -> Path:
        """The git work tree holding the policy file, or its directory outside git:
        drill evidence is read only from inside it."""
        if self.evidence_root is not None:
            return self.evidence_root.resolve()
        return repository_root(self.path)

    def resources_in(self, group: str, environment: str) -> list[ResourceInstance]:
        """The concrete resources of a group in one environment."""
        return resource_instances(self.document, group, environment)

    def is_discovered(self, group: str, environment: str) -> bool:
        """Whether the group names its resources by a pattern, listed at run time."""
        return any(is_pattern(r.name) for r in self.resources_in(group, environment))

    def resource_names(self, group: str, environment: str) -> list[str]:
        """The concrete names of a resource group in one environment."""
        return [instance.name for instance in self.resources_in(group, environment)]


def resource_instances(
    document: PolicyDocument, group: str, environment: str
) -> list[ResourceInstance]:
    """A group's name (and cluster) patterns expanded for one environment, in each of its
    regions the group applies to."""
    resource = document.resources[group]
    instances = []
    for region in document.environments[environment].region_names:
        if resource.regions is not None and region not in resource.regions:
            continue
        for mcp in document.mcps if resource.uses_mcp() else [None]:
            variables = {"env": environment, "region": region}
            if mcp is not None:
                variables["mcp"] = mcp
            instances.append(
                ResourceInstance(
                    name=expand(resource.name, variables),
                    parent=expand(resource.cluster or "", variables),
                    variables=variables,
                    region=region,
                )
            )
    return instances


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; raise InputError naming file and key on any problem."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    try:
        document = PolicyDocument.model_validate(raw)
    except ValidationError as exc:
        raise InputError("\n".join(describe_errors(path, exc))) from None
    bindings = _bind_checks(path, document)
    return Policy(
        path=path,
        sha256=sha256_file(path),
        document=document,
        bindings=bindings,
    )


def _bind_checks(path: Path, document: PolicyDocument) -> tuple[Binding, ...]:
    checks = all_checks()
    problems: list[str] = []
    for key, resource in document.resources.items():
        if resource.uses_mcp() and not document.mcps:
            problems.append(f"{path}: resources.{key}.name: uses {{mcp}} but `mcps` is empty")
        problems += _region_problems(f"{path}: resources.{key}", document, key)
    bindings = []
    seen: dict[tuple[str, str], list[tuple[int, set[str]]]] = {}
    for index, binding in enumerate(document.checks):
        where = f"{path}: checks[{index}]"
        environments = set(binding.environments or document.environments)
        spec = checks.get(binding.check)
        if spec is None:
            known = ", ".join(sorted(checks))
            problems.append(f"{where}.check: unknown check {binding.check!r}; known: {known}")
            continue
        for position, group in enumerate(binding.resources):
            resource = document.resources.get(group)
            if resource is None:
                problems.append(
                    f"{where}.resources[{position}]: unknown resource {group!r}; "
                    f"defined: {', '.join(document.resources)}"
                )
            elif resource.type != spec.resource_type:
                problems.append(
                    f"{where}.resources[{position}]: {spec.id} applies to "
                    f"{RESOURCE_TYPES[spec.resource_type].label}s, but {group!r} is a "
                    f"{RESOURCE_TYPES[resource.type].label}"
                )
            else:
                earlier = [i for i, envs in seen.get((spec.id, group), []) if envs & environments]
                if earlier:
                    problems.append(
                        f"{where}.resources[{position}]: {spec.id} is bound to {group!r} "
                        f"already in checks[{earlier[0]}]"
                    )
                seen.setdefault((spec.id, group), []).append((index, environments))
        for position, environment in enumerate(binding.environments or []):
            if environment not in document.environments:
                problems.append(
                    f"{where}.environments[{position}]: unknown environment {environment!r}; "
                    f"defined: {', '.join(document.environments)}"
                )
        try:
            params = spec.params_model.model_validate(binding.params)
        except ValidationError as exc:
            problems.extend(describe_errors(path, exc, ("checks", index, "params")))
            continue
        environments = tuple(binding.environments) if binding.environments else None
        bindings.append(Binding(index, spec, params, tuple(binding.resources), environments))
    problems += _waiver_problems(path, document, bindings)
    raise_if_errors(problems)
    return tuple(bindings)


def _waived_names(
    document: PolicyDocument, bindings: list[Binding], check: str, env: str
) -> set[str]:
    """The resource names (patterns as written) a check covers in an environment."""
    return {
        instance.name
        for binding in bindings
        if binding.check.id == check and binding.applies_in(env)
        for group in binding.resource_groups
        for instance in resource_instances(document, group, env)
    }


def _broad_waiver_problems(
    path: Path, document: PolicyDocument, bindings: list[Binding]
) -> list[str]:
    """A waiver that switches a check off must say so (``scope: all``): a glob covering
    every resource the check covers in its environment, or waivers that together waive a
    critical check in every environment where it is bound."""
    problems = []
    for index, waiver in enumerate(document.waivers):
        if waiver.scope == "all" or waiver.resource_glob is None:
            continue
        names = _waived_names(document, bindings, waiver.check, waiver.environment)
        if waiver.resource_glob.strip("*") == "" or (
            names and all(waiver.covers(name) for name in names)
        ):
            problems.append(
                f"{path}: waivers[{index}].resource_glob: {waiver.resource_glob!r} waives "
                f"{waiver.check} for every resource it checks in {waiver.environment}; a waiver "
                "that switches a check off must say `scope: all`"
            )
    critical = {b.check.id for b in bindings if b.check.severity == "critical"}
    for check in sorted(critical):
        bound_in = {
            env
            for env in document.environments
            for b in bindings
            if b.check.id == check
            if b.applies_in(env)
        }
        waivers = [(i, w) for i, w in enumerate(document.waivers) if w.check == check]
        everywhere = bound_in and all(
            all(
                any(w.covers(name) for _, w in waivers if w.environment == env)
                for name in _waived_names(document, bindings, check, env)
            )
            for env in bound_in
        )
        unacknowledged = [i for i, w in waivers if w.scope != "all"]
        if everywhere and unacknowledged:
            problems.append(
                f"{path}: waivers[{unacknowledged[0]}]: the waivers of critical check {check} "
                f"together waive it for every resource in every environment "
                f"({', '.join(sorted(bound_in))}); each must say `scope: all`"
            )
    return problems


def _region_problems(where: str, document: PolicyDocument, group: str) -> list[str]:
    """A group's regions must exist in the policy; a bucket named alike in several regions
    of one environment would be one bucket, checked once per region."""
    resource = document.resources[group]
    known = {r for e in document.environments.values() for r in e.region_names}
    problems = [
        f"{where}.regions[{i}]: {region!r} is not a region of any environment"
        for i, region in enumerate(resource.regions or [])
        if region not in known
    ]
    if resource.type == "s3_bucket" and "{region}" not in resource.name:
        for environment in document.environments:
            regions = {i.region for i in resource_instances(document, group, environment)}
            if len(regions) > 1 and not is_pattern(resource.name):
                problems.append(
                    f"{where}.name: a bucket lives in one region, but {resource.name!r} names "
                    f"the same bucket in {environment}'s regions {', '.join(sorted(regions))}; "
                    "use {region} in the name or limit the group with `regions`"
                )
    return problems


def _waiver_problems(path: Path, document: PolicyDocument, bindings: list[Binding]) -> list[str]:
    latest = date.today() + timedelta(days=MAX_WAIVER_DAYS)
    problems = _broad_waiver_problems(path, document, bindings)
    for index, waiver in enumerate(document.waivers):
        where = f"{path}: waivers[{index}]"
        if waiver.environment not in document.environments:
            problems.append(f"{where}.environment: unknown environment {waiver.environment!r}")
            continue
        if waiver.expires > latest:
            problems.append(f"{where}.expires: {waiver.expires} is more than a year ahead")
        names = {
            name
            for binding in bindings
            if binding.check.id == waiver.check and binding.applies_in(waiver.environment)
            for group in binding.resource_groups
            for name in (r.name for r in resource_instances(document, group, waiver.environment))
        }
        if not names:
            problems.append(f"{where}.check: {waiver.check!r} is not bound in {waiver.environment}")
        elif (
            waiver.resource
            and not waiver.resource.startswith("arn:")
            and not any(is_pattern(name) for name in names)  # discovered at run time
            and waiver.resource not in names
        ):
            problems.append(
                f"{where}.resource: {waiver.resource!r} is not a resource {waiver.check} "
                f"checks in {waiver.environment}"
            )
    return problems
