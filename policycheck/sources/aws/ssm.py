"""SSM parameters: the resource type, and a parameter's metadata (never its value)."""

from typing import Any

from policycheck.plugin.examples import Call
from policycheck.plugin.facts import FactSpec, FetchContext, ResourceMissing
from policycheck.plugin.resources import Listing, ListingScope, ResourceType


def _beginning_with(scope: ListingScope) -> dict[str, Any]:
    if not scope.prefix:
        return {}
    return {"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": [scope.prefix]}]}


SSM_PARAMETER = ResourceType(
    name="ssm_parameter",
    label="SSM parameter",
    missing_codes=frozenset({"ParameterNotFound"}),
    arn_template="arn:aws:ssm:{region}:{account_id}:parameter/{path}",
    # PutParameter Name: at most 1011 characters with the ARN's prefix (of the 2048 the
    # API reports, 1037 are reserved), so never more than 1011 alone.
    max_name_length=1011,
    listing=Listing(
        action="ssm:DescribeParameters",
        service="ssm",
        operation="describe_parameters",
        items="Parameters",
        name="Name",
        page_size=50,
        request=_beginning_with,
        by_prefix=True,
    ),
    example=(
        Call(
            "ssm",
            "put_parameter",
            {"Name": "{name}", "Value": "demo-secret", "Type": "SecureString", "Overwrite": True},
        ),
    ),
)


def _parameter(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("ssm").describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [ctx.name]}]
    )
    if not response["Parameters"]:
        raise ResourceMissing(ctx.name)
    parameter = response["Parameters"][0]
    keys = ("Name", "Type", "KeyId", "LastModifiedDate", "Version", "Tier")
    return {key: parameter[key] for key in keys if key in parameter}


PARAMETER = FactSpec(
    "ssm_parameter.description", SSM_PARAMETER, ("ssm:DescribeParameters",), _parameter
)
