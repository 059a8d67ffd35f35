"""dynamodb-access-isolated: each MCP's token table is reachable by its own task role only."""

from checkhelpers import judge

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
