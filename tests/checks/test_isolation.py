"""dynamodb-access-isolated: each MCP's token table is reachable by its own task role only."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from policycheck.engine.evaluation import evaluate
from policycheck.engine.fetching import fact_key, read_fact
from policycheck.engine.locations import Where
from policycheck.plugin.facts import FactOutcome, FetchContext
from policycheck.plugin.registry import load_registry
from policycheck.policy.bindings import ResourceInstance
from support.checks import judge, moto_clients, target
from support.faults import Fault

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
        "dynamodb_account.resource_policies": {},
        "ecs_cluster.task_roles": {
            f"mcp-{mcp}-main-svc": {
                "task_definition": "td",
                "statements": s,
                "task_role_arn": f"arn:aws:iam::{ACCOUNT}:role/{mcp}",
            }
            for mcp, s in statements.items()
        },
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
    assert (
        f"own task role arn:aws:iam::{ACCOUNT}:role/teams can reach tables other than "
        "mcp-oauth-storage-teams-dev (Allow #1 of inline:p on *)"
    ) in verdict.message


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
    reaching = "task role of mcp-sharepoint-main-svc can reach the table"
    assert f"{reaching} (Allow #1 of arn:aws:iam::aws:x on " in verdict.message
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
    assert not verdict.passed and "can reach tables other than" in verdict.message


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


def _clients(url: str) -> Any:
    return moto_clients(url, REGION)


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


def _result(
    outcome: FactOutcome, catalog: Any, mcp: str = "teams", policies: FactOutcome | None = None
) -> Any:
    """The check's result as the runner makes it from this outcome of the fact (and of
    the tables' resource policies: none unless given)."""
    resource = ResourceInstance(
        f"mcp-{mcp}-main-svc", CLUSTER, {"env": "dev", "mcp": mcp, "region": REGION}, REGION
    )
    bound = target("dynamodb-access-isolated", resource, Where("dev", ACCOUNT, REGION))
    spec = load_registry().facts["dynamodb_account.resource_policies"]
    policies = policies or FactOutcome(spec, value={})
    outcomes = {
        fact_key(ACCOUNT, REGION, outcome.spec, resource.name, CLUSTER): outcome,
        fact_key(ACCOUNT, REGION, spec, resource.name, CLUSTER): policies,
    }
    now = datetime(2026, 11, 24, tzinfo=UTC)
    return evaluate(bound, outcomes, catalog, now, load_registry())


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
    assert result.status == "fail" and f"(Allow #1 of {managed} on *)" in result.message


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
    assert f"(Allow #1 of inline:tables of {old_role} on " in result.message
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


# --- access as AWS decides it (issue 21): sub-resources, Deny, boundaries, resource policies

SHAREPOINT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sharepoint"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("dynamodb:Query", OWN + "/index/*"),  # a GSI projecting ALL returns every token
        ("dynamodb:GetRecords", OWN + "/stream/*"),  # NEW_AND_OLD_IMAGES carries every token
        ("dynamodb:RestoreTableFromBackup", OWN + "/backup/*"),  # a full copy of the tokens
        ("dynamodb:ExportTableToPointInTime", OWN),
    ],
)
def test_another_role_reaching_a_sub_resource_of_the_table_fails(
    action: str, resource: str
) -> None:
    """False passes on main: the Resource was matched against the bare table ARN only."""
    verdict = _judge(
        _cluster(
            teams=[_statement([OWN, OWN + "/index/*"])],
            sharepoint=[
                _statement(PREFIX + "mcp-oauth-storage-sharepoint-dev"),
                _statement(resource, action=action, source="inline:reader"),
            ],
        )
    )
    assert not verdict.passed
    assert (
        "task role of mcp-sharepoint-main-svc can reach the table "
        f"(Allow #1 of inline:reader on {resource})"
    ) in verdict.message
    [reach] = verdict.observed["other_roles_reaching"]
    assert action in reach["actions"] and reach["task_role_arn"] == SHAREPOINT_ROLE


def test_an_explicit_deny_on_every_token_table_wins() -> None:
    """False fail on main: Deny statements were ignored, so a broad Allow reached every
    table although an explicit Deny takes the token tables away."""
    broad_but_denied = [
        _statement("*", action="dynamodb:*"),
        _statement(PREFIX + "mcp-oauth-storage-*", action="dynamodb:*", effect="Deny"),
    ]
    assert _judge(_cluster(teams=[_statement(OWN)], sharepoint=broad_but_denied)).passed
    # A Deny under a condition might not apply: it is not counted.
    conditional = [
        broad_but_denied[0],
        {**broad_but_denied[1], "Condition": {"Bool": {"aws:ViaAWSService": "true"}}},
    ]
    verdict = _judge(_cluster(teams=[_statement(OWN)], sharepoint=conditional))
    assert not verdict.passed
    assert verdict.observed["other_roles_reaching"][0]["conditional"] == [
        f"Deny #2 of inline:p on {PREFIX}mcp-oauth-storage-* (conditional)"
    ]


def test_a_conditional_allow_counts_as_granting() -> None:
    allow = _statement(OWN, action="dynamodb:GetItem", Condition={"StringEquals": {"aws:x": "y"}})
    verdict = _judge(_cluster(teams=[_statement(OWN)], sharepoint=[allow]))
    assert not verdict.passed and "(conditional)" in verdict.message


def test_a_permissions_boundary_limits_what_a_role_reaches() -> None:
    facts = _cluster(teams=[_statement(OWN)], sharepoint=[_statement("*", action="dynamodb:*")])
    service = facts["ecs_cluster.task_roles"]["mcp-sharepoint-main-svc"]
    own_only = [_statement(PREFIX + "mcp-oauth-storage-sharepoint-dev", action="dynamodb:*")]
    service["permissions_boundaries"] = {
        SHAREPOINT_ROLE: {"policy": "arn:aws:iam::123456789012:policy/b", "statements": own_only}
    }
    assert _judge(facts).passed
    # The boundary limits the role it is set on only.
    service["permissions_boundaries"] = {
        "arn:aws:iam::123456789012:role/x": {"policy": "b", "statements": own_only}
    }
    assert not _judge(facts).passed


def test_a_table_resource_policy_granting_another_role_fails() -> None:
    facts = _cluster(teams=[_statement(OWN)], sharepoint=[])
    facts["dynamodb_account.resource_policies"] = {
        OWN: {
            "Statement": [
                {
                    "Sid": "LetSharepointRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": SHAREPOINT_ROLE},
                    "Action": "dynamodb:Query",
                    "Resource": OWN,
                }
            ]
        }
    }
    verdict = _judge(facts)
    assert not verdict.passed
    assert f"(Allow LetSharepointRead of resource policy of {OWN} on {OWN})" in verdict.message
    # The same policy on another table opens that table to teams' role instead.
    other = PREFIX + "mcp-oauth-storage-sharepoint-dev"
    policy = facts["dynamodb_account.resource_policies"].pop(OWN)
    policy["Statement"][0]["Principal"] = {"AWS": f"arn:aws:iam::{ACCOUNT}:role/teams"}
    policy["Statement"][0]["Resource"] = other
    facts["dynamodb_account.resource_policies"][other] = policy
    verdict = _judge(facts)
    assert not verdict.passed and "own task role" in verdict.message


def _put_table(client: Any, name: str) -> str:
    return client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]


def _teams_and_sharepoint(client: Any, sharepoint_tables: list[str]) -> str:
    """teams' task role reaches its own table; sharepoint's these tables (its role ARN)."""
    iam = client("iam")
    _service(client, "teams", taskRoleArn=_role(iam, "teams-task", ["mcp-oauth-storage-teams-dev"]))
    other = _role(iam, "sharepoint-task", sharepoint_tables)
    _service(client, "sharepoint", taskRoleArn=other)
    return other


def _read_both(client: Any) -> tuple[FactOutcome, FactOutcome]:
    return _read(client), _read(client, "dynamodb_account.resource_policies")


def test_live_resource_policy_of_the_table_is_read(moto, catalog) -> None:
    client = _clients(moto.url)
    other = _teams_and_sharepoint(client, ["mcp-oauth-storage-sharepoint-dev"])
    table = _put_table(client, "mcp-oauth-storage-teams-dev")
    _put_table(client, "mcp-oauth-storage-sharepoint-dev")
    roles, policies = _read_both(client)
    assert policies.error is None and policies.value == {
        table: None,
        PREFIX + "mcp-oauth-storage-sharepoint-dev": None,
    }
    assert _result(roles, catalog, policies=policies).status == "pass"
    grant = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Cross",
                "Effect": "Allow",
                "Principal": {"AWS": other},
                "Action": "dynamodb:GetItem",
                "Resource": table,
            }
        ],
    }
    client("dynamodb").put_resource_policy(ResourceArn=table, Policy=json.dumps(grant))
    roles, policies = _read_both(client)
    result = _result(roles, catalog, policies=policies)
    assert result.status == "fail"
    assert (
        "task role of mcp-sharepoint-main-svc can reach the table (Allow Cross of resource policy"
        in result.message
    )


def test_live_an_unreadable_resource_policy_is_an_error(moto, catalog) -> None:
    client = _clients(moto.url)
    _cluster_of_two(client)
    _put_table(client, "mcp-oauth-storage-teams-dev")
    moto.faults.add(Fault("GetResourcePolicy", "AccessDeniedException", 400))
    roles, policies = _read_both(client)
    assert policies.error is not None and policies.error.code == "AccessDeniedException"
    result = _result(roles, catalog, policies=policies)
    assert result.status == "error" and result.error.code == "AccessDeniedException"


def test_live_a_permissions_boundary_is_read(moto, catalog) -> None:
    client = _clients(moto.url)
    iam = client("iam")
    broad = _teams_and_sharepoint(client, ["*"])
    assert _result(_read(client), catalog).status == "fail"
    boundary = iam.create_policy(
        PolicyName="own-table-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "dynamodb:*",
                        "Resource": PREFIX + "mcp-oauth-storage-sharepoint-dev",
                    }
                ],
            }
        ),
    )["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName="sharepoint-task", PermissionsBoundary=boundary)
    outcome = _read(client)
    assert (
        outcome.value["mcp-sharepoint-main-svc"]["permissions_boundaries"][broad]["policy"]
        == boundary
    )
    assert _result(outcome, catalog).status == "pass"
    moto.faults.add(Fault("GetRole", "AccessDenied", 403))
    assert _result(_read(client), catalog).status == "error"


def test_live_only_the_default_version_of_a_managed_policy_counts(moto, catalog) -> None:
    client = _clients(moto.url)
    iam = client("iam")
    _teams_and_sharepoint(client, [])

    def document(table: str) -> str:
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "dynamodb:Query",
                        "Resource": PREFIX + table + "/index/*",
                    }
                ],
            }
        )

    arn = iam.create_policy(
        PolicyName="reads", PolicyDocument=document("mcp-oauth-storage-sharepoint-dev")
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="sharepoint-task", PolicyArn=arn)
    iam.create_policy_version(
        PolicyArn=arn, PolicyDocument=document("mcp-oauth-storage-teams-dev"), SetAsDefault=False
    )
    assert _result(_read(client), catalog).status == "pass"
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    result = _result(_read(client), catalog)
    assert result.status == "fail" and "/index/*" in result.message


# --- plan mode: the plans show the roles' policies and the tables' resource policies ---


def _plan_service(plan: Any, mcp: str, statements: list[dict]) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/{mcp}-task"
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
    definition = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{mcp}:1"
    plan.add(
        "",
        "aws_ecs_service",
        mcp,
        {"name": f"mcp-{mcp}-main-svc", "cluster": cluster, "task_definition": f"{mcp}:1"},
    )
    plan.add(
        "",
        "aws_ecs_task_definition",
        mcp,
        {"family": mcp, "task_role_arn": role, "arn": definition},
    )
    plan.add(
        "",
        "aws_iam_role",
        mcp,
        {"name": f"{mcp}-task", "arn": role, "inline_policy": [], "managed_policy_arns": []},
    )
    plan.add(
        "",
        "aws_iam_role_policy",
        mcp,
        {"role": f"{mcp}-task", "name": "p", "policy": json.dumps({"Statement": statements})},
    )


def _plan_verdict(plan: Any):
    from pathlib import Path

    from policycheck.sources.terraform.common import Subject
    from policycheck.sources.terraform.planfile import PlanFile
    from policycheck.sources.terraform.state import build_states

    document = json.loads(json.dumps(plan.document()))
    after, _ = build_states([PlanFile(Path("plan.json"), "0" * 64, "1.9.8", "1.2", document)])
    facts = {
        name: load_registry().plan.facts[name].read(after, Subject("", CLUSTER, ACCOUNT, REGION))
        for name in ("ecs_cluster.task_roles", "dynamodb_account.resource_policies")
    }
    return _judge(facts)


@pytest.mark.parametrize(
    "reader",
    [
        {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": OWN + "/index/*"},
        {"Effect": "Allow", "Action": "dynamodb:GetRecords", "Resource": OWN + "/stream/*"},
        {
            "Effect": "Allow",
            "Action": "dynamodb:RestoreTableFromBackup",
            "Resource": OWN + "/backup/*",
        },
    ],
)
def test_plan_another_role_reaching_a_sub_resource_fails(reader: dict) -> None:
    from support.planbuilder import PlanBuilder

    plan = PlanBuilder()
    _plan_service(plan, "teams", [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": OWN}])
    _plan_service(plan, "sharepoint", [reader])
    verdict = _plan_verdict(plan)
    assert (
        not verdict.passed
        and "task role of mcp-sharepoint-main-svc can reach the table" in verdict.message
    )


def test_plan_deny_wins_and_resource_policy_counts() -> None:
    from support.planbuilder import PlanBuilder, ref

    plan = PlanBuilder()
    _plan_service(plan, "teams", [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": OWN}])
    _plan_service(
        plan,
        "sharepoint",
        [
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "dynamodb:*", "Resource": PREFIX + "*"},
        ],
    )
    assert _plan_verdict(plan).passed
    plan.add("", "aws_dynamodb_table", "teams", {"name": "mcp-oauth-storage-teams-dev"})
    grant = {
        "Statement": [
            {
                "Sid": "Cross",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/outlook-task"},
                "Action": "dynamodb:Scan",
                "Resource": OWN,
            }
        ]
    }
    plan.add(
        "",
        "aws_dynamodb_resource_policy",
        "teams",
        {"policy": json.dumps(grant)},
        action="create",
        unknown={"resource_arn": True},
        expressions={"resource_arn": ref("aws_dynamodb_table.teams.arn")},
    )
    _plan_service(plan, "outlook", [])
    verdict = _plan_verdict(plan)
    assert not verdict.passed
    assert (
        "task role of mcp-outlook-main-svc can reach the table (Allow Cross of resource policy"
        in verdict.message
    )
