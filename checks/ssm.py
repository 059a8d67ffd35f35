"""SSM checks: secrets are stored encrypted."""

from policycheck.plugin.check import Facts, NoParams, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples


@check(
    id="ssm-parameter-secure",
    passes="each MCP's client-secret parameter exists and is a `SecureString` (read with "
    "DescribeParameters: the value is never read)",
    examples=Examples(
        deviation=Deviation(
            "a plain String",
            (
                Call(
                    "ssm",
                    "put_parameter",
                    {"Name": "{name}", "Value": "demo-secret", "Type": "String", "Overwrite": True},
                ),
            ),
        ),
    ),
    title="SSM parameter holding a secret exists and is a SecureString",
    resource_type="ssm_parameter",
    severity="high",
    facts=("ssm_parameter.description",),
    remediation=(
        "Re-create {name} as a SecureString (terragrunt apply in infra/initial/mcps/<name>/ "
        "writes it)"
    ),
)
def parameter_secure(facts: Facts, params: NoParams) -> Verdict:
    """The parameter exists and its type is ``SecureString`` (encrypted with KMS)."""
    parameter = facts["ssm_parameter.description"]
    kind = parameter.get("Type")
    return judge(
        kind == "SecureString",
        f"parameter is a {kind}",
        "SecureString",
        expected={"Type": "SecureString"},
        observed=parameter,
    )
