"""ECS checks: the service a recovery redeploys is running as desired."""

from pydantic import Field

from policycheck.plugin.check import CheckParams, Facts, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples


class StableParams(CheckParams):
    min_desired_count: int = Field(1, ge=0, description="Smallest acceptable desired count.")


@check(
    id="ecs-service-stable",
    passes="service `mcp-{mcp}-main-svc` in `aiconnectors-{env}-aiconnectors` is ACTIVE, "
    "desired ≥ 1, running = desired, primary deployment COMPLETED",
    examples=Examples(
        deviation=Deviation(
            "scaled to zero (an ECS redeploy drill left undone)",
            (
                Call(
                    "ecs",
                    "update_service",
                    {"cluster": "{parent}", "service": "{name}", "desiredCount": 0},
                ),
            ),
        ),
    ),
    title="ECS service is active, scaled up and fully deployed",
    resource_type="ecs_service",
    severity="high",
    facts=("ecs_service.description",),
    remediation=(
        "aws ecs update-service --cluster <cluster> --service {name} --desired-count 1 "
        "--force-new-deployment; then aws ecs wait services-stable"
    ),
    params=StableParams,
)
def service_stable(facts: Facts, params: StableParams) -> Verdict:
    """The service is ACTIVE, its desired count is at least ``min_desired_count``, its
    running count equals the desired count and its primary deployment has completed."""
    service = facts["ecs_service.description"]
    desired, running = service.get("desiredCount", 0), service.get("runningCount", 0)
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    rollout = primary.get("rolloutState") if primary else None
    if rollout is None:  # deployments without rollout state: stable when nothing else runs
        rollout = "COMPLETED" if primary and len(deployments) == 1 else "IN_PROGRESS"
    problems = []
    if service.get("status") != "ACTIVE":
        problems.append(f"service is {service.get('status')}")
    if desired < params.min_desired_count:
        problems.append(f"desired count is {desired}")
    if running != desired:
        problems.append(f"{running} of {desired} tasks running")
    if rollout != "COMPLETED":
        problems.append(f"primary deployment is {rollout}")
    text = "; ".join(problems) or (
        f"ACTIVE with {running}/{desired} tasks running, deployment COMPLETED"
    )
    return judge(
        not problems,
        text,
        f"ACTIVE, desired >= {params.min_desired_count}, running = desired, "
        "primary deployment COMPLETED",
        expected={
            "status": "ACTIVE",
            "desiredCount": f">= {params.min_desired_count}",
            "runningCount": "= desiredCount",
            "rolloutState": "COMPLETED",
        },
        observed=service,
    )
