"""Many accounts and regions: environments in several regions, `run --org --role-name`
across an AWS Organization (moto's Organizations and STS), per-service concurrency caps."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from policycheck.demo.seeding import seed
from policycheck.engine.fetching import ServiceThrottle
from policycheck.engine.locations import shard_of
from policycheck.render.terminal import locations
from policycheck.report.model import EnvironmentInfo
from support.checks import make_report
from support.faults import Fault
from support.harness import MotoServer, Workspace, audit, run_cli

ROLE = "policycheck-audit"
MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account: the organisation's management
REGION = "eu-central-1"


def _use_policy(workspace: Workspace, environments: dict, resources: dict, checks: list) -> None:
    def change(document: dict) -> None:
        document.update(
            mcps=[], environments=environments, resources=resources, checks=checks, waivers=[]
        )

    workspace.edit(change)


def _table(session: boto3.Session, url: str, region: str, name: str, pitr: bool) -> None:
    dynamodb = session.client("dynamodb", endpoint_url=url, region_name=region)
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    if pitr:
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": 35,
            },
        )


def _bucket(url: str, region: str, name: str, versioned: bool) -> None:
    s3 = boto3.client("s3", endpoint_url=url, region_name=region)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def _statuses(report: dict) -> set[tuple[str, ...]]:
    return {
        (
            r["environment"],
            r["resource"]["account_id"],
            r["resource"]["region"],
            r["resource"]["name"],
            r["status"],
        )
        for r in report["results"]
    }


# --- several regions ---------------------------------------------------------------


def test_environment_in_two_regions(moto: MotoServer, workspace: Workspace) -> None:
    regions = [REGION, "eu-west-1"]
    _use_policy(
        workspace,
        {"dev": {"regions": regions}},
        {
            "orders": {"type": "dynamodb_table", "name": "orders-{env}"},
            "state": {"type": "s3_bucket", "name": "state-{env}-{region}"},
            "logs": {"type": "s3_bucket", "name": "logs-*-{env}"},
        },
        [
            {"check": "dynamodb-pitr-enabled", "resources": ["orders"]},
            {"check": "s3-versioning-enabled", "resources": ["state", "logs"]},
        ],
    )
    session = boto3.Session()
    for region in regions:
        _table(session, moto.url, region, "orders-dev", pitr=region == REGION)
        _bucket(moto.url, region, f"state-dev-{region}", versioned=True)
        _bucket(moto.url, region, f"logs-{region}-dev", versioned=region == REGION)

    result, report = audit(moto, workspace)

    assert result.returncode == 1, result.stderr
    account = MANAGEMENT_ACCOUNT
    assert _statuses(report) == {
        ("dev", account, REGION, "orders-dev", "pass"),
        ("dev", account, "eu-west-1", "orders-dev", "fail"),
        ("dev", account, REGION, f"state-dev-{REGION}", "pass"),
        ("dev", account, "eu-west-1", "state-dev-eu-west-1", "pass"),
        # each bucket of the pattern is found once, in its own region
        ("dev", account, REGION, f"logs-{REGION}-dev", "pass"),
        ("dev", account, "eu-west-1", "logs-eu-west-1-dev", "fail"),
    }
    assert [(e["name"], e["region"]) for e in report["run"]["environments"]] == [
        ("dev", REGION),
        ("dev", "eu-west-1"),
    ]
    tables = {r["resource"]["arn"] for r in report["results"] if r["check_id"].startswith("dyn")}
    assert tables == {f"arn:aws:dynamodb:{r}:{account}:table/orders-dev" for r in regions}


def test_group_limited_to_one_region(moto: MotoServer, workspace: Workspace) -> None:
    _use_policy(
        workspace,
        {"dev": {"regions": [REGION, "eu-west-1"]}},
        {"state": {"type": "s3_bucket", "name": "state-{env}", "regions": ["eu-west-1"]}},
        [{"check": "s3-versioning-enabled", "resources": ["state"]}],
    )
    _bucket(moto.url, "eu-west-1", "state-dev", versioned=True)
    # The policy binds checks of SC.10.01.01 only: the other controls would be not assessed.
    result, report = audit(moto, workspace, "--controls", "SC.10.01.01")
    assert result.returncode == 0, result.stderr
    assert _statuses(report) == {("dev", MANAGEMENT_ACCOUNT, "eu-west-1", "state-dev", "pass")}


# --- an AWS Organization -------------------------------------------------------------


def _organisation(url: str, accounts: dict[str, str]) -> dict[str, str]:
    """Create the organisation and one member account per name, tagged environment=VALUE;
    return their ids."""
    organizations = boto3.client("organizations", endpoint_url=url, region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    ids = {}
    for name, environment in accounts.items():
        status = organizations.create_account(
            AccountName=name,
            Email=f"{name}@example.invalid",
            Tags=[{"Key": "environment", "Value": environment}],
        )["CreateAccountStatus"]
        ids[name] = status["AccountId"]
    return ids


def _session_in(url: str, account_id: str) -> boto3.Session:
    sts = boto3.client("sts", endpoint_url=url, region_name=REGION)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ROLE}", RoleSessionName="seed"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@pytest.fixture
def organisation(moto: MotoServer, workspace: Workspace) -> dict[str, str]:
    """Three member accounts: two tagged prod (one without PITR), one tagged dev; the
    management account holds a prod table too but carries no tag."""
    ids = _organisation(moto.url, {"shop-a": "prod", "shop-b": "prod", "shop-dev": "dev"})
    _use_policy(
        workspace,
        {
            "prod": {"region": REGION, "org_account_tags": {"environment": "prod"}},
            "dev": {"region": REGION, "org_account_tags": {"environment": "dev"}},
        },
        {"orders": {"type": "dynamodb_table", "name": "orders-{env}"}},
        [{"check": "dynamodb-pitr-enabled", "resources": ["orders"]}],
    )
    _table(_session_in(moto.url, ids["shop-a"]), moto.url, REGION, "orders-prod", pitr=True)
    _table(_session_in(moto.url, ids["shop-b"]), moto.url, REGION, "orders-prod", pitr=False)
    _table(_session_in(moto.url, ids["shop-dev"]), moto.url, REGION, "orders-dev", pitr=True)
    _table(boto3.Session(), moto.url, REGION, "orders-prod", pitr=False)
    moto.faults.clear()
    return ids


def test_org_audits_each_tagged_account(
    moto: MotoServer, workspace: Workspace, organisation: dict[str, str]
) -> None:
    result, report = audit(moto, workspace, "--org", "--role-name", ROLE)

    assert result.returncode == 1, result.stderr
    assert _statuses(report) == {
        ("prod", organisation["shop-a"], REGION, "orders-prod", "pass"),
        ("prod", organisation["shop-b"], REGION, "orders-prod", "fail"),
        ("dev", organisation["shop-dev"], REGION, "orders-dev", "pass"),
    }
    reached = {e["account_id"]: e["caller_arn"] for e in report["run"]["environments"]}
    assert set(reached) == set(organisation.values())
    assert all(f":assumed-role/{ROLE}/" in arn for arn in reached.values())
    # one listing, one role assumption per account, however many environments share it
    assert moto.faults.requests["ListAccounts"] == 1
    assert moto.faults.requests["AssumeRole"] == 3
    # and `iam-policy --org-role` allows exactly what the management side called
    granted = json.loads(run_cli("iam-policy", "--org-role", ROLE).stdout)["Statement"]
    assert [(g["Action"], g["Resource"]) for g in granted] == [
        (["organizations:ListAccounts", "organizations:ListTagsForResource"], "*"),
        ("sts:AssumeRole", f"arn:aws:iam::*:role/{ROLE}"),
    ]
    organisation_calls = {"ListAccounts", "ListTagsForResource", "AssumeRole"}
    assert organisation_calls <= set(moto.faults.requests)


def test_unassumable_account_errors_only_its_results(
    moto: MotoServer, workspace: Workspace, organisation: dict[str, str]
) -> None:
    denied = organisation["shop-b"]
    moto.faults.add(Fault("AssumeRole", "AccessDenied", 403, body_contains=denied))

    result, report = audit(moto, workspace, "--org", "--role-name", ROLE)

    assert result.returncode == 3, result.stderr
    assert _statuses(report) == {
        ("prod", organisation["shop-a"], REGION, "orders-prod", "pass"),
        ("prod", denied, REGION, "orders-prod", "error"),
        ("dev", organisation["shop-dev"], REGION, "orders-dev", "pass"),
    }
    (error,) = [r for r in report["results"] if r["status"] == "error"]
    assert error["error"]["code"] == "AccessDenied"
    assert f"arn:aws:iam::{denied}:role/{ROLE}" in error["message"]
    (unreached,) = [e for e in report["run"]["environments"] if e["error"]]
    assert unreached["account_id"] == denied and "AccessDenied" in unreached["error"]
    assert f"prod ({denied}, {REGION}, not reached)" in result.stdout
    markdown = (workspace.directory / "out" / "report.md").read_text()
    assert f"account {denied}, {REGION}, **not reached**: arn:aws:iam::{denied}" in markdown


def test_org_listing_denied_exits_2(
    moto: MotoServer, workspace: Workspace, organisation: dict[str, str]
) -> None:
    moto.faults.add(Fault("ListAccounts", "AccessDeniedException", 400))
    result, _ = audit(moto, workspace, "--org", "--role-name", ROLE)
    assert result.returncode == 2
    assert "--org: cannot list the organisation's accounts" in result.stderr
    assert "AccessDeniedException" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org"], "--org and --role-name go together"),
        (["--role-name", ROLE], "--org and --role-name go together"),
        (["--org", "--role-name", f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/x"], "not an ARN"),
    ],
)
def test_org_options_are_checked(workspace: Workspace, args: list[str], message: str) -> None:
    result = run_cli("run", "--policy", workspace.policy_path, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_org_accounts_shard_and_merge(
    moto: MotoServer, workspace: Workspace, organisation: dict[str, str], tmp_path: Path
) -> None:
    _, whole = audit(moto, workspace, "--org", "--role-name", ROLE, out=tmp_path / "whole")
    parts = []
    for index in (1, 2, 3):
        expected = {row for row in _statuses(whole) if shard_of(f"{row[0]}/{row[1]}", 3) == index}
        result, report = audit(
            moto,
            workspace,
            "--org",
            "--role-name",
            ROLE,
            "--shard",
            f"{index}/3",
            out=tmp_path / f"shard-{index}",
        )
        if not expected:  # moto's account ids are random: a shard may be empty, and says so
            assert result.returncode == 2
            assert "no environment or account in this shard" in result.stderr
            continue
        assert _statuses(report) == expected  # each environment/account in its own shard
        parts.append(tmp_path / f"shard-{index}" / "report.json")
    merged = run_cli("merge", *parts, "--output-dir", tmp_path / "merged")
    assert merged.returncode == 0, merged.stderr
    merged_report = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert _statuses(merged_report) == _statuses(whole)


# --- concurrency caps ----------------------------------------------------------------


def test_per_service_cap_holds_and_other_services_keep_going(
    moto: MotoServer, workspace: Workspace
) -> None:
    seed(workspace.policy, moto.url)
    moto.faults.clear()
    moto.faults.delay = 0.05
    capped, _ = audit(moto, workspace, "--env", "dev", "--max-per-service", "s3=2")
    assert capped.returncode in (0, 1), capped.stderr
    assert moto.faults.peak["s3"] == 2
    assert moto.faults.peak["dynamodb"] > 2

    moto.faults.peak.clear()
    uncapped, _ = audit(moto, workspace, "--env", "dev")
    assert uncapped.returncode == capped.returncode
    assert moto.faults.peak["s3"] > 2  # the cap, not the fleet, held S3 to 2


def test_throttle_runs_each_lane_at_most_cap_at_a_time() -> None:
    running: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}
    lock = threading.Lock()

    def work(lane: str, value: int) -> int:
        with lock:
            running[lane] += 1
            peak[lane] = max(peak[lane], running[lane])
        time.sleep(0.01)
        with lock:
            running[lane] -= 1
        if value == 7:
            raise ValueError("seven")
        return value * 2

    with ThreadPoolExecutor(max_workers=8) as pool:
        throttle = ServiceThrottle(pool, {"a": 2})
        futures = [
            throttle.submit(("1", "r", lane), lambda lane=lane, i=i: work(lane, i))
            for i in range(12)
            for lane in ("a", "b")
        ]
        outcomes = [f.exception() or f.result() for f in futures]
    assert peak["a"] == 2 and peak["b"] > 2
    assert [o for o in outcomes if isinstance(o, ValueError)] != []
    assert sorted(o for o in outcomes if isinstance(o, int)) == sorted(
        [i * 2 for i in range(12) if i != 7] * 2
    )


def test_summary_counts_many_locations() -> None:
    report = make_report()
    report.run.environments = [
        EnvironmentInfo(
            name=env,
            account_id=f"{n:012d}",
            caller_arn="",
            region=region,
            error="AccessDenied" if n == 3 and region == REGION else None,
        )
        for env in ("dev", "prod")
        for n in range(5)
        for region in (REGION, "eu-west-1")
    ]
    assert locations(report) == "2 environments in 5 accounts and 2 regions, 2 not reached"


# --- an organisation filter that matches nothing is never a pass ---------------------


def test_org_filter_matching_no_account_exits_2(
    moto: MotoServer, workspace: Workspace, organisation: dict[str, str]
) -> None:
    """Every environment's tags match no account: nothing to assess, said in one line."""
    workspace.edit(
        lambda d: [
            env.update(org_account_tags={"environment": "staging"})
            for env in d["environments"].values()
        ]
    )
    result, report = audit(moto, workspace, "--org", "--role-name", ROLE)
    assert result.returncode == 2 and report is None
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("policycheck: error: --org: nothing to assess: ")
    assert "no active account of the organisation carries the tags {environment: staging}" in line
    assert "(org_account_tags of environments.prod; 4 active account(s) seen)" in line
    assert "PASS" not in result.stdout


def test_org_environment_without_account_is_not_assessed(
    moto: MotoServer, workspace: Workspace, organisation: dict[str, str]
) -> None:
    """dev is audited; prod's tags match no account: prod is not assessed, never a pass."""
    workspace.edit(
        lambda d: d["environments"]["prod"].update(org_account_tags={"environment": "qa"})
    )
    only = ("--controls", "SC.10.01.01")  # the one control the test policy binds checks of
    result, report = audit(moto, workspace, "--org", "--role-name", ROLE, *only)
    assert result.returncode == 3, result.stdout + result.stderr  # dev passed; prod unknown
    assert _statuses(report) == {("dev", organisation["shop-dev"], REGION, "orders-dev", "pass")}
    assert report["summary"]["status"] == "not_assessed"
    [gap] = report["run"]["gaps"]
    assert gap["environment"] == "prod" and "{environment: qa}" in gap["reason"]
    control = next(c for c in report["controls"] if c["id"] == "SC.10.01.01")
    assert control["status"] == "not_assessed"
    assert control["environments"]["dev"] == {"status": "pass", "reason": ""}
    assert control["environments"]["prod"]["status"] == "not_assessed"
    assert "NOT ASSESSED: 1 passed" in result.stdout  # the terminal summary agrees
    assert "not assessed: environment prod: no active account" in result.stdout
    assert "not assessed: SC.10.01.01 in prod: the environment was not audited" in result.stdout
    markdown = (workspace.directory / "out" / "report.md").read_text()
    assert "**Overall: NOT ASSESSED**" in markdown and "## Not assessed" in markdown
    # --fail-on fail silences read errors, never what was not assessed
    relaxed, _ = audit(moto, workspace, "--org", "--role-name", ROLE, *only, "--fail-on", "fail")
    assert relaxed.returncode == 3
