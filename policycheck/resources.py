"""Resource types that checks apply to: how they are named, addressed and found missing."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResourceType:
    """A kind of resource a policy can name."""

    name: str
    label: str
    #: Error codes meaning the resource itself does not exist.
    missing_codes: frozenset[str]
    #: Placeholders: {name} {region} {account_id} {parent} {path} (name without leading /).
    arn_template: str
    #: What the parent is called, for types that live inside another resource.
    parent_label: str | None = None

    def arn(self, name: str, region: str, account_id: str, parent: str = "") -> str:
        """The resource's ARN (or URN, for resources outside AWS)."""
        return self.arn_template.format(
            name=name,
            region=region,
            account_id=account_id,
            parent=parent,
            path=name.lstrip("/"),
        )


RESOURCE_TYPES: dict[str, ResourceType] = {
    rt.name: rt
    for rt in (
        ResourceType(
            name="s3_bucket",
            label="S3 bucket",
            missing_codes=frozenset({"NoSuchBucket"}),
            arn_template="arn:aws:s3:::{name}",
        ),
        ResourceType(
            name="dynamodb_table",
            label="DynamoDB table",
            # DescribeContinuousBackups says TableNotFoundException, the others
            # ResourceNotFoundException (moto: ResourceNotFound).
            missing_codes=frozenset(
                {"TableNotFoundException", "ResourceNotFoundException", "ResourceNotFound"}
            ),
            arn_template="arn:aws:dynamodb:{region}:{account_id}:table/{name}",
        ),
        ResourceType(
            name="ecr_repository",
            label="ECR repository",
            missing_codes=frozenset({"RepositoryNotFoundException"}),
            arn_template="arn:aws:ecr:{region}:{account_id}:repository/{name}",
        ),
        ResourceType(
            name="ecs_service",
            label="ECS service",
            missing_codes=frozenset({"ClusterNotFoundException", "ServiceNotFoundException"}),
            arn_template="arn:aws:ecs:{region}:{account_id}:service/{parent}/{name}",
            parent_label="cluster",
        ),
        ResourceType(
            name="ssm_parameter",
            label="SSM parameter",
            missing_codes=frozenset({"ParameterNotFound"}),
            arn_template="arn:aws:ssm:{region}:{account_id}:parameter/{path}",
        ),
        ResourceType(
            name="dr_drill",
            label="DR drill",
            missing_codes=frozenset(),
            arn_template="urn:policycheck:dr-drill:{name}",
        ),
    )
}


@dataclass(frozen=True, order=True)
class ResourceRef:
    """One concrete resource in one environment."""

    type: str
    name: str
    region: str
    account_id: str
    parent: str = ""
    #: The name pattern's values, e.g. {"env": "dev", "mcp": "teams", "region": "…"}.
    variables: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def arn(self) -> str:
        return RESOURCE_TYPES[self.type].arn(self.name, self.region, self.account_id, self.parent)

    @property
    def label(self) -> str:
        kind = RESOURCE_TYPES[self.type]
        where = f" in {kind.parent_label} {self.parent}" if kind.parent_label else ""
        return f"{kind.label} {self.name}{where}"
