"""The policy file as written: environments, named resources, check bindings, waivers and
run settings, validated field by field (cross-references: see policycheck.policy.bindings)."""

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from policycheck.deadline import DEFAULT_ROLE_SESSION_SECONDS, parse_duration
from policycheck.policy.templates import is_pattern, placeholders
from policycheck.policy.waivers import Waiver
from policycheck.validation import StrictModel, short_repr

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
ACCOUNT_ID_PATTERN = r"^\d{12}$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"
#: An environment's name: it goes into resource names, file names, reports and commands.
ENVIRONMENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


def quoted_account_id(value: Any) -> Any:
    """Pydantic validator (before): an account id YAML read as a number was not quoted."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f"an account id is 12 digits in quotes; YAML read this one as the number {value} "
            '(a leading 0 as octal): write it in quotes, e.g. "012345678901"'
        )
    return value


class AccountConfig(StrictModel):
    """One account of an environment and, optionally, the role that reaches it."""

    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN, description="Account id (quoted).")
    role_arn: str | None = Field(
        None, pattern=ROLE_ARN_PATTERN, description="Role to assume in this account."
    )

    _quoted_account_id = field_validator("account_id", mode="before")(quoted_account_id)


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

    _quoted_account_id = field_validator("account_id", mode="before")(quoted_account_id)

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
                AccountConfig.model_construct(
                    account_id=self.account_id or "", role_arn=self.role_arn
                )
            ]
        return [None]


class ResourceGroup(StrictModel):
    """Resources of one type named by a pattern; ``{mcp}`` expands to one per MCP."""

    type: str = Field(description="The resource type, e.g. s3_bucket (see the policy schema).")
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


class Plugins(StrictModel):
    """Check modules of your own, loaded beside the built-in ones."""

    modules: list[str] = Field(
        default_factory=list,
        description="Importable Python modules (or packages) declaring resource types, facts "
        "and checks as policycheck's own do.",
    )
    entry_points: bool = Field(
        False,
        description="Also every module installed distributions offer in the "
        "`policycheck.checks` entry-point group.",
    )

    @field_validator("modules")
    @classmethod
    def _module_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not all(part.isidentifier() for part in name.split(".")):
                raise ValueError(f"{name!r} is not a Python module name")
        return names


class PolicyDocument(StrictModel):
    """The policy file as written."""

    version: Literal[1]
    plugins: Plugins = Field(default_factory=Plugins, description="Your own check modules.")
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

    @field_validator("environments", mode="before")
    @classmethod
    def _environment_names(cls, environments: Any) -> Any:
        for name in environments if isinstance(environments, dict) else ():
            if not isinstance(name, str) or not re.match(ENVIRONMENT_NAME_PATTERN, name):
                raise ValueError(
                    f"{short_repr(name)} is not an environment name: letters, digits, - and _, "
                    "starting with a letter or digit, at most 32 characters"
                )
        return environments
