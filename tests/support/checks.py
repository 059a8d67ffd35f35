"""Call a registered check directly with plain facts, as the runner would."""

from typing import TYPE_CHECKING, Any

from policycheck.plugin.check import NOW, RESOURCE, Verdict
from policycheck.plugin.registry import load_registry
from policycheck.report.model import Report, ResourceInfo, Result, RunInfo, summarize

if TYPE_CHECKING:
    from collections.abc import Callable

    from policycheck.engine.locations import Where
    from policycheck.engine.planning import Target
    from policycheck.policy.bindings import ResourceInstance

TODAY = "2026-11-24T06:00:00+00:00"
#: Parameters of checks that have required ones.
REQUIRED_PARAMS: dict[str, dict[str, Any]] = {
    "dr-drill-evidence-fresh": {"frequency": "annually"},
    "recovery-path-present": {"kind": "file", "procedure": "§4.1 render"},
    "recovery-workflow-runnable": {"procedure": "§4.1 re-run"},
}


def moto_clients(url: str, region: str = "eu-central-1") -> "Callable[[str], Any]":
    """client(service) for the moto server at ``url``: one client per service."""
    import boto3

    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = boto3.client(service, endpoint_url=url, region_name=region)
        return made[service]

    return client


def judge(
    check_id: str,
    facts: dict[str, Any],
    resource: str = "bucket",
    context: dict[str, Any] | None = None,
    now: str = TODAY,
    **params: Any,
) -> Verdict:
    spec = load_registry().checks[check_id]
    full = {
        RESOURCE: {
            "name": resource,
            "arn": f"arn:aws:s3:::{resource}",
            "region": "eu-central-1",
            "account_id": "123456789012",
            "parent": "",
            "environment": "dev",
            "variables": {"env": "dev", "region": "eu-central-1"},
            **(context or {}),
        },
        NOW: now,
        **facts,
    }
    return spec.evaluate(full, spec.params_model.model_validate(params))


def make_result(
    check_id: str = "c",
    status: str = "fail",
    *,
    name: str = "b",
    environment: str = "dev",
    severity: str = "high",
) -> "Result":
    """A result as the runner builds them, for tests of what happens after evaluation."""
    from policycheck.report.model import Result

    return Result(
        check_id=check_id,
        title="t",
        control_ids=["C.1"],
        environment=environment,
        resource=ResourceInfo(
            type="s3_bucket",
            name=name,
            arn=f"arn:aws:s3:::{name}",
            region="eu-central-1",
            account_id="123456789012",
        ),
        status=status,
        severity=severity,
        message=f"{status} message",
        expected={"a": 1},
        observed={"a": 2},
        remediation="fix it",
        error={"code": "AccessDenied", "message": "no"} if status == "error" else None,
    )


def make_report(*results: Result, controls: tuple = ()) -> Report:
    """A report around the given results, summarised as the runner would."""
    return Report(
        run=RunInfo(
            tool_version="0",
            started_at="s",
            finished_at="f",
            policy_file="p",
            policy_sha256="0" * 64,
            environments=[],
        ),
        summary=summarize(list(controls), list(results)),
        controls=list(controls),
        results=list(results),
    )


def target(
    check_id: str,
    resource: "ResourceInstance",
    where: "Where",
    params: dict[str, Any] | None = None,
    group: str = "group",
) -> "Target":
    """A check bound to one resource in one location, as the planner makes them."""
    from policycheck.engine.planning import Target
    from policycheck.policy.bindings import Binding

    registry = load_registry()
    spec = registry.checks[check_id]
    binding = Binding(0, spec, spec.params_model.model_validate(params or {}), (group,))
    return Target(binding, where, resource, registry.resource_types[spec.resource_type])
