"""Resource types that checks apply to: how they are named, addressed and found missing."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceType:
    """A kind of AWS resource a policy can name."""

    name: str
    label: str
    #: AWS error codes meaning the resource itself does not exist.
    missing_codes: frozenset[str]
    arn_template: str

    def arn(self, name: str, region: str, account_id: str) -> str:
        """The resource's ARN in the given region and account."""
        return self.arn_template.format(name=name, region=region, account_id=account_id)


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
    )
}


@dataclass(frozen=True, order=True)
class ResourceRef:
    """One concrete resource in one environment."""

    type: str
    name: str
    region: str
    account_id: str

    @property
    def arn(self) -> str:
        return RESOURCE_TYPES[self.type].arn(self.name, self.region, self.account_id)

    @property
    def label(self) -> str:
        return f"{RESOURCE_TYPES[self.type].label} {self.name}"
