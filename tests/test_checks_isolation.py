"""dynamodb-access-isolated: each MCP's token table is reachable by its own task role only."""

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from checkhelpers import judge, target
from faults import Fault
from policycheck.bindings import ResourceInstance
from policycheck.evaluation import evaluate
from policycheck.facts import FactOutcome, FetchContext
from policycheck.fetching import fact_key, read_fact
from policycheck.locations import Where
from policycheck.plugins import load_registry

ACCOUNT, REGION = "123456789012", "eu-central-1"
PREFIX = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"


def _statement(
    resource: object,
    action: object = "dynamodb:GetItem",
    effect: str = "Allow",
    source: str = "inline:p",
    **extra: object,
) -> dict:
    return {"Source": source, "Effect": effect, "Action": action, "Resource": resource, **extra}


def _cluster(**statements: list[dict]) -> dict:
    return {
        "ecs_cluster.task_roles": {
            f"mcp-{mcp}-main-svc": {
                "task_definition": "td",
                "statements": s,
                "task_role_arn": f"arn:aws:iam::{ACCOUNT}:role/{mcp}",
            }
            for mcp, s in statements.items()
        }
    }


def _judge(facts: dict, mcp: str = "teams", **params: object):
    context = {
        "name": f"mcp-{mcp}-main-svc",
        "parent": "aiconnectors-dev-aiconnectors",
        "variables": {"env": "dev", "mcp": mcp, "region": REGION},
    }
    return judge(
        "dynamodb-access-isolated", facts, resource=f"mcp-{mcp}-main-svc", context=context, **params
    )


OWN = PREFIX + "mcp-oauth-storage-teams-dev"


def test_own_table_and_its_indexes_only_passes() -> None:
    verdict = _judge(
        _cluster(
            teams=[_statement([OWN, OWN + "/index/*"])],
            sharepoint=[_statement(PREFIX + "mcp-oauth-storage-sharepoint-dev")],
        )
    )
    assert verdict.passed
    assert verdict.message == (
        f"only arn:aws:iam::{ACCOUNT}:role/teams reaches mcp-oauth-storage-teams-dev"
    )


def test_star_resource_on_own_role_fails() -> None:
    verdict = _judge(_cluster(teams=[_statement("*", action="dynamodb:*")]))
    assert not verdict.passed
    assert "own task role grants DynamoDB on * (inline:p)" in verdict.message


def test_another_table_on_own_role_fails() -> None:
    verdict = _judge(_cluster(teams=[_statement([OWN, PREFIX + "mcp-oauth-storage-teams-dev2"])]))
    assert not verdict.passed
    assert "mcp-oauth-storage-teams-dev2" in verdict.message


def test_other_role_reaching_by_wildcard_fails() -> None:
    verdict = _judge(
        _cluster(
            teams=[_statement(OWN)],
            sharepoint=[_statement(PREFIX + "mcp-oauth-storage-*", source="arn:aws:iam::aws:x")],
        )
    )
    assert not verdict.passed
    assert "task role of mcp-sharepoint-main-svc can reach the table (arn:aws:iam::aws:x)" in (
        verdict.message
    )
    assert verdict.observed["other_roles_reaching"][0]["service"] == "mcp-sharepoint-main-svc"


def test_other_role_with_star_action_fails_but_non_dynamodb_is_fine() -> None:
    assert not _judge(_cluster(teams=[_statement(OWN)], other=[_statement("*", action="*")])).passed
    assert _judge(
        _cluster(teams=[_statement(OWN)], other=[_statement("*", action="s3:GetObject")])
    ).passed


def test_deny_statements_grant_nothing() -> None:
    assert _judge(
        _cluster(
            teams=[_statement(OWN)], other=[_statement("*", action="dynamodb:*", effect="Deny")]
        )
    ).passed


def test_not_resource_is_broad() -> None:
    statement = {
        "Source": "inline:p",
        "Effect": "Allow",
        "Action": "dynamodb:*",
        "NotResource": PREFIX + "other",
    }
    verdict = _judge(_cluster(teams=[statement]))
    assert not verdict.passed and "NotResource" in verdict.message


def test_table_pattern_parameter() -> None:
    own = PREFIX + "tokens-teams"
    assert _judge(_cluster(teams=[_statement(own)]), table="tokens-{mcp}").passed
    assert not _judge(_cluster(teams=[_statement(OWN)]), table="tokens-{mcp}").passed


def test_service_missing_from_cluster_fails() -> None:
    verdict = _judge(_cluster(sharepoint=[]))
    assert not verdict.passed
    assert verdict.message.startswith("service is not in cluster aiconnectors-dev-aiconnectors")


# --- the fact ecs_cluster.task_roles against moto: what is unknown is an error ----------

CLUSTER = "aiconnectors-dev-aiconnectors"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        }
    ],
}


def _clients(url: str):
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = boto3.client(service, endpoint_url=url, region_name=REGION)
        return made[service]

    return client


class Proxy:
    """A client that answers some calls itself and passes the rest to moto."""

    def __init__(self, real: Any, **overrides: Any) -> None:
        self._real, self._overrides = real, overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides.get(name) or getattr(self._real, name)


def _role(iam: Any, name: str, tables: list[str], path: str = "/") -> str:
    arn = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(TRUST))[
        "Role"
    ]["Arn"]
    if tables:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "dynamodb:*",
                    "Resource": [PREFIX + t for t in tables],
                }
            ],
        }
        iam.put_role_policy(RoleName=name, PolicyName="tables", PolicyDocument=json.dumps(policy))
    return arn


def _service(client: Any, mcp: str, **roles: str) -> None:
    ecs = client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    definition = ecs.register_task_definition(
        family=f"mcp-{mcp}",
        containerDefinitions=[{"name": "app", "image": "app:1", "memory": 512}],
        **roles,
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=CLUSTER, serviceName=f"mcp-{mcp}-main-svc", taskDefinition=definition
    )


def _cluster_of_two(client: Any) -> None:
    """teams reaches only its own table; sharepoint's role also reaches teams' table."""
    iam = client("iam")
    own = _role(iam, "teams-task", ["mcp-oauth-storage-teams-dev"])
    other = _role(
        iam, "sharepoint-task", ["mcp-oauth-storage-sharepoint-dev", "mcp-oauth-storage-teams-dev"]
    )
    _service(client, "teams", taskRoleArn=own)
    _service(client, "sharepoint", taskRoleArn=other)


def _read(client: Any, fact: str = "ecs_cluster.task_roles", name: str = "") -> FactOutcome:
    context = FetchContext(name or "mcp-teams-main-svc", ACCOUNT, REGION, CLUSTER, client)
    return read_fact(load_registry().facts[fact], context)


def _result(outcome: FactOutcome, catalog: Any, mcp: str = "teams") -> Any:
    """The check's result as the runner makes it from this outcome of the fact."""
    resource = ResourceInstance(
        f"mcp-{mcp}-main-svc", CLUSTER, {"env": "dev", "mcp": mcp, "region": REGION}, REGION
    )
    bound = target("dynamodb-access-isolated", resource, Where("dev", ACCOUNT, REGION))
    key = fact_key(ACCOUNT, REGION, outcome.spec, resource.name, CLUSTER)
    now = datetime(2026, 11, 24, tzinfo=UTC)
    return evaluate(bound, {key: outcome}, catalog, now, load_registry())


def _describe_dropping(client: Any, service: str, failure: dict | None) -> Any:
    """An ECS client whose DescribeServices leaves ``service`` out: reported under
    ``failures`` (as AWS answers) or, with failure None, not at all."""
    real = client("ecs")

    def describe_services(**kwargs: Any) -> dict:
        answer = real.describe_services(**kwargs)
        kept = [s for s in answer["services"] if s["serviceName"] != service]
        if len(kept) < len(answer["services"]) and failure is not None:
            arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{service}"
            answer["failures"] = [*answer.get("failures", []), {"arn": arn, **failure}]
        return {**answer, "services": kept}

    ecs = Proxy(real, describe_services=describe_services)
    return lambda name: ecs if name == "ecs" else client(name)


def test_collector_reads_every_service_of_the_cluster(moto, catalog) -> None:
    client = _clients(moto.url)
    _cluster_of_two(client)
    outcome = _read(client)
    assert outcome.error is None
    assert sorted(outcome.value) == ["mcp-sharepoint-main-svc", "mcp-teams-main-svc"]
    result = _result(outcome, catalog)
    assert result.status == "fail"
    assert "task role of mcp-sharepoint-main-svc can reach the table" in result.message


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        ({"reason": "MISSING"}, "MISSING"),
        ({"reason": "ACCESS_DENIED", "detail": "tag-based policy"}, "ACCESS_DENIED"),
        (None, "ServiceNotDescribed"),
    ],
)
def test_a_listed_service_that_is_not_described_makes_the_fact_an_error(
    moto, catalog, failure: dict | None, code: str
) -> None:
    """The false pass: sharepoint's role reaches teams' table, but DescribeServices
    reported sharepoint under failures; teams' isolation passed without it."""
    client = _clients(moto.url)
    _cluster_of_two(client)
    outcome = _read(_describe_dropping(client, "mcp-sharepoint-main-svc", failure))
    assert outcome.error is not None and outcome.error.code == code
    assert "mcp-sharepoint-main-svc" in outcome.error.message
    result = _result(outcome, catalog)
    assert result.status == "error" and result.error.code == code


def test_services_beyond_one_list_page_and_one_describe_batch_are_all_read(moto) -> None:
    client = _clients(moto.url)
    iam = client("iam")
    mcps = [f"m{i:02}" for i in range(12)]
    for mcp in mcps:
        _service(client, mcp, taskRoleArn=_role(iam, f"{mcp}-task", []))
    real = client("ecs")
    arns = real.list_services(cluster=CLUSTER)["serviceArns"]
    assert len(arns) == 12

    class Pages:
        def paginate(self, **kwargs: Any) -> list[dict]:
            assert kwargs == {"cluster": CLUSTER}
            return [{"serviceArns": arns[i : i + 5]} for i in range(0, 12, 5)]

    calls: list[int] = []

    def describe_services(**kwargs: Any) -> dict:
        calls.append(len(kwargs["services"]))
        return real.describe_services(**kwargs)

    ecs = Proxy(real, get_paginator=lambda name: Pages(), describe_services=describe_services)
    outcome = _read(lambda name: ecs if name == "ecs" else client(name))
    assert outcome.error is None
    assert sorted(outcome.value) == sorted(f"mcp-{mcp}-main-svc" for mcp in mcps)
    assert calls == [10, 2]


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("DescribeTaskDefinition", "AccessDeniedException", 400),
        ("ListRolePolicies", "AccessDenied", 403),
        ("GetRolePolicy", "AccessDenied", 403),
        ("ListAttachedRolePolicies", "AccessDenied", 403),
        ("GetPolicy", "AccessDenied", 403),
        ("GetPolicyVersion", "AccessDenied", 403),
    ],
)
def test_an_unreadable_task_definition_or_role_policy_is_an_error(
    moto, catalog, operation: str, code: str, status: int
) -> None:
    client = _clients(moto.url)
    _cluster_of_two(client)
    iam = client("iam")
    managed = iam.create_policy(
        PolicyName="extra",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="sharepoint-task", PolicyArn=managed)
    moto.faults.add(Fault(operation, code, status))
    outcome = _read(client)
    assert outcome.error is not None and outcome.error.code == code
    assert moto.faults.injected[operation] >= 1
    assert _result(outcome, catalog).status == "error"


def test_attached_policies_are_read(moto, catalog) -> None:
    client = _clients(moto.url)
    _cluster_of_two(client)
    iam = client("iam")
    iam.delete_role_policy(RoleName="sharepoint-task", PolicyName="tables")
    assert _result(_read(client), catalog).status == "pass"
    managed = iam.create_policy(
        PolicyName="broad",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "dynamodb:Query", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="sharepoint-task", PolicyArn=managed)
    result = _result(_read(client), catalog)
    assert result.status == "fail" and f"({managed})" in result.message


def test_a_task_role_with_a_path_is_read_by_its_role_name(moto, catalog) -> None:
    client = _clients(moto.url)
    iam = client("iam")
    own = _role(iam, "teams-task", ["mcp-oauth-storage-teams-dev"])
    other = _role(iam, "reader", ["mcp-oauth-storage-teams-dev"], path="/mcp/sharepoint/")
    assert other.endswith(":role/mcp/sharepoint/reader")
    _service(client, "teams", taskRoleArn=own)
    _service(client, "sharepoint", taskRoleArn=other)
    outcome = _read(client)
    assert outcome.value["mcp-sharepoint-main-svc"]["statements"][0]["Source"] == "inline:tables"
    assert _result(outcome, catalog).status == "fail"


def test_a_task_role_of_another_account_is_an_error(moto, catalog) -> None:
    """IAM here would read a same-named role of this account: the real role is unknown."""
    client = _clients(moto.url)
    iam = client("iam")
    _service(client, "teams", taskRoleArn=_role(iam, "teams-task", []))
    _role(iam, "shared", [])  # the same name in this account grants nothing
    _service(client, "sharepoint", taskRoleArn="arn:aws:iam::999999999999:role/shared")
    outcome = _read(client)
    assert outcome.error is not None and outcome.error.code == "CrossAccountTaskRole"


def test_the_execution_role_is_not_the_task_role(moto, catalog) -> None:
    """A task definition with an execution role only: its containers have no AWS
    permissions of their own; the ECS agent's execution role is not judged."""
    client = _clients(moto.url)
    iam = client("iam")
    _service(client, "teams", taskRoleArn=_role(iam, "teams-task", ["mcp-oauth-storage-teams-dev"]))
    agent = _role(iam, "agent", ["mcp-oauth-storage-teams-dev"])
    _service(client, "sharepoint", executionRoleArn=agent)
    outcome = _read(client)
    assert outcome.value["mcp-sharepoint-main-svc"] == {
        "task_definition": outcome.value["mcp-sharepoint-main-svc"]["task_definition"],
        "task_role_arn": None,
        "statements": [],
    }
    assert _result(outcome, catalog).status == "pass"


def _running_also(client: Any, service: str, group: str, definition: str, status: str) -> Any:
    """An ECS client whose DescribeServices shows ``service`` also running tasks of
    ``definition``: an older deployment, or a task set."""
    real = client("ecs")

    def describe_services(**kwargs: Any) -> dict:
        answer = real.describe_services(**kwargs)
        for described in answer["services"]:
            if described["serviceName"] == service:
                extra = {"id": "old", "status": status, "taskDefinition": definition}
                described[group] = [*described.get(group, []), extra]
        return answer

    ecs = Proxy(real, describe_services=describe_services)
    return lambda name: ecs if name == "ecs" else client(name)


@pytest.mark.parametrize(("group", "status"), [("deployments", "ACTIVE"), ("taskSets", "DRAINING")])
def test_roles_of_tasks_still_running_an_older_definition_count(
    moto, catalog, group: str, status: str
) -> None:
    """A rolling update runs the old deployment's tasks beside the new ones (task sets
    likewise): the old task role reaches what it reaches until they stop."""
    client = _clients(moto.url)
    iam, ecs = client("iam"), client("ecs")
    _service(client, "teams", taskRoleArn=_role(iam, "teams-task", []))
    _service(client, "sharepoint", taskRoleArn=_role(iam, "sharepoint-task", []))
    old_role = _role(iam, "old-task", ["mcp-oauth-storage-teams-dev"])
    old = ecs.register_task_definition(
        family="mcp-sharepoint",
        taskRoleArn=old_role,
        containerDefinitions=[{"name": "app", "image": "app:0", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    running = _running_also(client, "mcp-sharepoint-main-svc", group, old, status)
    outcome = _read(running)
    sharepoint = outcome.value["mcp-sharepoint-main-svc"]
    assert sharepoint["other_task_definitions"] == [old]
    assert sharepoint["other_task_role_arns"] == [old_role]
    result = _result(outcome, catalog)
    assert result.status == "fail"
    assert f"(inline:tables of {old_role})" in result.message
    # A deployment that is INACTIVE runs no task.
    finished = _read(_running_also(client, "mcp-sharepoint-main-svc", group, old, "INACTIVE"))
    assert "other_task_definitions" not in finished.value["mcp-sharepoint-main-svc"]
    assert _result(finished, catalog).status == "pass"


def test_missing_cluster_is_a_missing_resource(moto) -> None:
    assert _read(_clients(moto.url)).resource_missing


# --- ecs_service.description: only MISSING means the service does not exist -------------


def test_service_description_missing_is_a_missing_resource(moto) -> None:
    client = _clients(moto.url)
    _cluster_of_two(client)
    outcome = _read(client, "ecs_service.description", "mcp-nothere-main-svc")
    assert outcome.resource_missing and outcome.error is None
    assert _read(client, "ecs_service.description").value["status"] == "ACTIVE"


@pytest.mark.parametrize(
    ("failure", "code"),
    [({"reason": "ACCESS_DENIED"}, "ACCESS_DENIED"), (None, "ServiceNotDescribed")],
)
def test_service_description_other_failure_is_an_error(
    moto, failure: dict | None, code: str
) -> None:
    client = _clients(moto.url)
    _cluster_of_two(client)
    dropping = _describe_dropping(client, "mcp-teams-main-svc", failure)
    outcome = _read(dropping, "ecs_service.description")
    assert not outcome.resource_missing
    assert outcome.error is not None and outcome.error.code == code
