"""IAM facts a plan cannot show: a plan has the roles and policies its configuration
manages, not the account's other principals, nor the apply role that applies it."""

from policycheck.plugin.plans import PlanGap

#: Why a plan cannot judge an account's principals (every role and user).
ACCOUNT_IAM = (
    "a plan shows the roles and policies its configuration manages, not every role and "
    "user of the account"
)
TRUST_POLICY = PlanGap(
    fact="iam_role.trust_policy",
    why=(
        "the apply role is what applies the plan: it is created outside the platform's "
        "configuration (a bootstrap), so the platform's plan does not show its trust policy"
    ),
)
