"""SSM facts: a parameter's metadata (never its value)."""

from typing import Any

from policycheck.facts import FactSpec, FetchContext, ResourceMissing, register_fact


def _parameter(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("ssm").describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [ctx.name]}]
    )
    if not response["Parameters"]:
        raise ResourceMissing(ctx.name)
    parameter = response["Parameters"][0]
    keys = ("Name", "Type", "KeyId", "LastModifiedDate", "Version", "Tier")
    return {key: parameter[key] for key in keys if key in parameter}


PARAMETER = register_fact(
    FactSpec("ssm_parameter.description", "ssm_parameter", ("ssm:DescribeParameters",), _parameter)
)
