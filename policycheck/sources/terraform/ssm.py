"""SSM facts from a plan: a parameter's metadata (``aws_ssm_parameter``), as
DescribeParameters states it. Its value is never read."""

from typing import Any

from policycheck.plugin.plans import PlannedType, PlanReader
from policycheck.sources.terraform.common import Subject
from policycheck.sources.terraform.state import PlanState

SSM_PARAMETER = PlannedType(
    resource_type="ssm_parameter", tf_type="aws_ssm_parameter", name_attr="name"
)


def parameter(state: PlanState, subject: Subject) -> Any:
    node = subject.instance.node
    described = {"Name": node.get("name"), "Type": node.get("type")}
    for key, attr in (("KeyId", "key_id"), ("Tier", "tier")):
        value = node.optional(attr)
        if value:
            described[key] = value
    return described


PARAMETER = PlanReader(fact="ssm_parameter.description", read=parameter)
