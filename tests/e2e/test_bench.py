"""bench/run.py works and its counts hold: requests equal the floor (plus the one identity
call) and verdicts agree with the ground truth; the synthetic fleet answers as its
templates do. Timings are printed, never asserted."""

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from urllib.parse import urlencode

from support.harness import REPO

sys.path.insert(0, str(REPO / "bench"))
from fleet import Fleet


def test_small_fleet_requests_at_the_floor_and_full_agreement() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--buckets",
            "12",
            "--tables",
            "4",
            "--repos",
            "4",
            "--runs",
            "1",
            "--latency-ms",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    floor = int(re.search(r"floor: (\d+) requests", out).group(1))
    assert floor == 12 * 5 + 4 * 2 + 4 * 2 + 1 + 3
    requests = dict(re.findall(r"^(policycheck|yardstick)\s+[\d.]+\s+\S+\s+\d+\s+(\d+)", out, re.M))
    assert int(requests["policycheck"]) == floor + 1  # + sts:GetCallerIdentity
    assert requests["policycheck"] == requests["yardstick"]
    assert "agreement with ground truth: 100.0% of 76 verdicts" in out  # 12x5 + 4x2 + 4x2


def test_plan_benchmark_agrees_with_its_ground_truth() -> None:
    """bench/plan.py writes a plan, times `policycheck plan` on it and checks every
    verdict; here a small one (the timing is printed, never asserted)."""
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "plan.py"),
            "--buckets",
            "14",
            "--tables",
            "6",
            "--repos",
            "4",
            "--runs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "agreement with ground truth: 100.0% of 90 verdicts" in result.stdout  # 14x5 + 6x2 + 4x2


def _fleet() -> Fleet:
    fleet = Fleet(7, {"bucket": 25, "table": 250, "repo": 3}, "{}", "eu-central-1")
    fleet.platform = {"bucket": ["platform-bucket"], "table": [], "repo": ["mcp-teams"]}
    return fleet


def test_synthetic_fleet_answers_with_its_templates_under_its_own_names() -> None:
    fleet = _fleet()
    for index in range(3):  # what moto answered for the templates, as the middleware saw it
        name = f"tpl-bucket-{index}"
        answer = (
            "200 OK",
            [("Content-Type", "application/xml")],
            f"<V>{index} {name}</V>".encode(),
        )
        fleet.learn("GET", f"/{name}", "versioning", "", b"", answer)
        body = json.dumps({"TableName": f"tpl-table-{index}"}).encode()
        payload = json.dumps({"arn": f"table/tpl-table-{index}", "i": index}).encode()
        headers = [("x-amz-crc32", str(zlib.crc32(payload)))]
        target = "DynamoDB_20120810.DescribeTimeToLive"
        fleet.learn("POST", "/", "", target, body, ("200 OK", headers, payload))
    versioning = next(f for f in fleet.facts["bucket"] if f.operation == "versioning")
    for name in fleet.names("bucket"):
        setting = fleet.setting("bucket", name, versioning)
        status, _, payload = fleet.answer("GET", f"/{name}", "versioning", "", b"")  # type: ignore[misc]
        assert (status, payload) == ("200 OK", f"<V>{setting} {name}</V>".encode())
        expected = versioning.settings[setting].status
        assert fleet.truth("prod")[f"prod|s3-versioning-enabled|{name}"] == expected
    ttl = next(f for f in fleet.facts["table"] if f.operation == "DescribeTimeToLive")
    for name in fleet.names("table")[:20]:
        body = json.dumps({"TableName": name}).encode()
        target = "DynamoDB_20120810.DescribeTimeToLive"
        _, headers, payload = fleet.answer("POST", "/", "", target, body)  # type: ignore[misc]
        assert json.loads(payload)["arn"] == f"table/{name}"
        assert json.loads(payload)["i"] == fleet.setting("table", name, ttl)
        assert dict(headers)["x-amz-crc32"] == str(zlib.crc32(payload))  # botocore checks it
    policy = next(f for f in fleet.facts["bucket"] if f.operation == "policy")
    denied = [n for n in fleet.names("bucket") if fleet.setting("bucket", n, policy) == 2]
    for name in denied:
        status, _, payload = fleet.answer("GET", f"/{name}", "policy", "", b"")  # type: ignore[misc]
        assert status.startswith("403") and b"<Code>AccessDenied</Code>" in payload
    assert fleet.answer("GET", "/platform-bucket", "versioning", "", b"") is None  # recorded


def test_synthetic_fleet_lists_every_page_once() -> None:
    fleet = _fleet()
    buckets, token = [], None
    while True:
        query = {"bucket-region": "eu-central-1", "max-buckets": "10"}
        query |= {"continuation-token": token} if token else {}
        _, _, payload = fleet.answer("GET", "/", urlencode(query), "", b"")  # type: ignore[misc]
        root = ET.fromstring(payload)
        namespace = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        buckets += [e.text for e in root.iter(f"{namespace}Name")]
        token = root.findtext(f"{namespace}ContinuationToken")
        if not token:
            break
    assert buckets == sorted(["platform-bucket", *fleet.names("bucket")])
    tables, start = [], None
    while True:
        body = json.dumps({"Limit": 100} | ({"ExclusiveStartTableName": start} if start else {}))
        target = "DynamoDB_20120810.ListTables"
        _, _, payload = fleet.answer("POST", "/", "", target, body.encode())  # type: ignore[misc]
        page = json.loads(payload)
        tables += page["TableNames"]
        start = page.get("LastEvaluatedTableName")
        if not start:
            break
    assert tables == fleet.names("table") and fleet.pages()["table"] == 3


def test_organisation_benchmark_audits_every_member_account() -> None:
    """bench/organization.py: each member account's bucket, table and repository judged
    by every fleet check (9 results an account); memory is printed, never asserted."""
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "organization.py"), "--accounts", "2,3"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    # The memory per account is a difference of two measured peaks: on a loaded machine it
    # can come out negative, which says nothing about the audit.
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+[\d.]+\s+\d+\s+-?[\d.]+$", result.stdout, re.M)
    assert rows == [("2", "18"), ("3", "27")], result.stdout
