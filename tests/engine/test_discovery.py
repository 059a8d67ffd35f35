"""Resources named by pattern: discovered with paginated list calls, a listing seen whole."""

import json
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from policycheck.demo.seeding import seed
from policycheck.engine.discovery import Discovery, DiscoveryFailed, list_names
from policycheck.plugin.registry import load_registry
from policycheck.policy.templates import is_pattern
from support.faults import Fault
from support.harness import MotoServer, Workspace, audit, run_cli

REGION = "eu-central-1"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _counting_clients() -> tuple[dict, Counter]:
    calls: Counter[str] = Counter()
    clients: dict = {}

    def client(service: str):
        if service not in clients:
            clients[service] = boto3.client(service, region_name=REGION)
            clients[service].meta.events.register(
                "before-call", lambda model, **_: calls.update([model.name])
            )
        return clients[service]

    return client, calls


def _names(
    client, type_name: str, pattern: str, parent: str = "", region: str = REGION, page_size=None
) -> list[str]:
    """What a pattern matches, listed as discovery lists it (with tiny pages if asked)."""
    from fnmatch import fnmatchcase

    from policycheck.plugin.resources import ListingScope
    from policycheck.policy.templates import literal_prefix

    listing = load_registry().resource_types[type_name].listing
    prefix = literal_prefix(pattern) if listing.by_prefix else ""
    scope = ListingScope(region=region, parent=parent, prefix=prefix)
    names = list_names(client, listing, scope, page_size)
    return [name for name in names if fnmatchcase(name, pattern)]


def test_patterns() -> None:
    assert is_pattern("mcp-oauth-storage-*-dev") and is_pattern("a?c")
    assert not is_pattern("aiconnectors-terraform-lock-dev")


def test_tables_over_several_pages(aws: None) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    for i in range(7):
        ddb.create_table(
            TableName=f"mcp-oauth-storage-m{i}-dev",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )
    ddb.create_table(
        TableName="other",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    client, calls = _counting_clients()
    names = _names(client, "dynamodb_table", "mcp-oauth-storage-*-dev", page_size=3)
    assert names == [f"mcp-oauth-storage-m{i}-dev" for i in range(7)]
    assert calls["ListTables"] == 3


def test_repositories_parameters_buckets_and_services_listed_whole(aws: None) -> None:
    ecr, ssm, s3 = (boto3.client(s, region_name=REGION) for s in ("ecr", "ssm", "s3"))
    for i in range(5):
        ecr.create_repository(repositoryName=f"mcp-r{i}")
        ssm.put_parameter(
            Name=f"/aiconnectors/dev/mcps/m{i}/client-secret", Value="x", Type="SecureString"
        )
        s3.create_bucket(
            Bucket=f"bench-bucket-{i}", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
    ssm.put_parameter(Name="/elsewhere/x", Value="x", Type="String")
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="c")
    definition = ecs.register_task_definition(
        family="f", containerDefinitions=[{"name": "a", "image": "i", "memory": 64}]
    )["taskDefinition"]["taskDefinitionArn"]
    for i in range(5):
        ecs.create_service(
            cluster="c", serviceName=f"mcp-s{i}-main-svc", taskDefinition=definition, desiredCount=1
        )
    client, _ = _counting_clients()
    assert len(_names(client, "ecr_repository", "mcp-*", page_size=2)) == 5
    secrets = _names(client, "ssm_parameter", "/aiconnectors/dev/mcps/*/client-secret", page_size=2)
    assert len(secrets) == 5
    assert len(_names(client, "ecs_service", "mcp-*-main-svc", parent="c", page_size=2)) == 5
    assert len(_names(client, "s3_bucket", "bench-bucket-*")) == 5
    # moto answers these in one page whatever the page size: completeness is what it shows.


#: Per listed type: the paginated operation, the request it must carry, a page's shape.
PAGE_SHAPES = {
    "ecr_repository": (
        "describe_repositories",
        {},
        lambda n: {"repositories": [{"repositoryName": n}]},
    ),
    "ssm_parameter": (
        "describe_parameters",
        {"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["mcp-"]}]},
        lambda n: {"Parameters": [{"Name": n}]},
    ),
    "ecs_service": (
        "list_services",
        {"cluster": "c"},
        lambda n: {"serviceArns": [f"arn:aws:ecs:r:1:service/c/{n}"]},
    ),
    "dynamodb_table": ("list_tables", {}, lambda n: {"TableNames": [n]}),
    "s3_bucket": (
        "list_buckets",
        {"BucketRegion": REGION},
        lambda n: {"Buckets": [{"Name": n}]},
    ),
}


@pytest.mark.parametrize("resource_type", sorted(PAGE_SHAPES))
def test_every_page_is_read(resource_type: str) -> None:
    operation, request, page = PAGE_SHAPES[resource_type]
    pages = [page(f"mcp-{i}") for i in range(3)] + [page("other")]

    class Paginator:
        def paginate(self, **given: object) -> list[dict]:
            assert given == {**request, "PaginationConfig": {"PageSize": 2}}
            return pages

    class Client:
        def get_paginator(self, name: str) -> Paginator:
            assert name == operation
            return Paginator()

    names = _names(lambda service: Client(), resource_type, "mcp-*", parent="c", page_size=2)
    assert names == ["mcp-0", "mcp-1", "mcp-2"]


def test_listing_is_read_once_per_account_and_type(aws: None) -> None:
    client, calls = _counting_clients()
    discovery = Discovery()
    location = ("123456789012", REGION)
    tables = load_registry().resource_types["dynamodb_table"]
    discovery.names(location, client, tables, "a-*")
    discovery.names(location, client, tables, "b-*")
    assert calls["ListTables"] == 1


def _with_table_pattern(workspace: Workspace) -> None:
    workspace.edit(
        lambda d: d["resources"]["token_tables"].update(name="mcp-oauth-storage-*-{env}")
    )


def test_discovered_resources_are_checked(moto: MotoServer, workspace: Workspace) -> None:
    seed(workspace.policy, moto.url)
    _with_table_pattern(workspace)
    out = workspace.directory / "out"
    result, report = audit(moto, workspace, "--checks", "dynamodb-pitr-enabled", out=out)
    assert result.returncode == 0, result.stderr
    assert sorted((r["environment"], r["resource"]["name"]) for r in report["results"]) == sorted(
        (env, f"mcp-oauth-storage-{m}-{env}")
        for env in ("dev", "prod")
        for m in ("sharepoint", "outlook-mcp", "teams", "databricks")
    )
    policy = json.loads(run_cli("iam-policy", "--policy", workspace.policy_path).stdout)
    assert "dynamodb:ListTables" in policy["Statement"][0]["Action"]


def test_denied_listing_errors_only_that_group(moto: MotoServer, workspace: Workspace) -> None:
    seed(workspace.policy, moto.url)
    _with_table_pattern(workspace)
    moto.faults.add(Fault("ListTables", "AccessDeniedException", 400))
    out = workspace.directory / "out"
    result, report = audit(moto, workspace, "--env", "dev", out=out)
    assert result.returncode == 3, result.stderr
    errors = [r for r in report["results"] if r["status"] == "error"]
    # dynamodb-access-isolated reads every table's resource policy after ListTables: its
    # services cannot be judged either (an error, not a pass).
    assert {(r["check_id"], r["resource"]["name"]) for r in errors} == {
        (check, "mcp-oauth-storage-*-dev")
        for check in (
            "dynamodb-pitr-enabled",
            "dynamodb-ttl-enabled",
            "dynamodb-encryption-at-rest",
        )
    } | {
        ("dynamodb-access-isolated", f"mcp-{mcp}-main-svc")
        for mcp in ("sharepoint", "outlook-mcp", "teams", "databricks")
    }
    assert all(r["error"]["code"] == "AccessDeniedException" for r in errors)
    assert {r["status"] for r in report["results"]} == {"pass", "error"}


def test_discovery_failure_type() -> None:
    failure = DiscoveryFailed("AccessDenied", "no")
    assert str(failure) == "AccessDenied: no"


def test_buckets_are_listed_in_their_own_region(aws: None) -> None:
    for region in (REGION, "eu-west-1"):
        boto3.client("s3", region_name=region).create_bucket(
            Bucket=f"bucket-in-{region}", CreateBucketConfiguration={"LocationConstraint": region}
        )
    client, calls = _counting_clients()
    assert _names(client, "s3_bucket", "bucket-in-*", region="eu-west-1") == ["bucket-in-eu-west-1"]
    assert _names(client, "s3_bucket", "bucket-in-*", region=REGION) == [f"bucket-in-{REGION}"]
    assert calls["ListBuckets"] == 2
