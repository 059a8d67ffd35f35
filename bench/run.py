"""Benchmark policycheck against a simulated account, with the yardstick scanner beside it.

    .venv/bin/python bench/run.py                      # 1,006 buckets, 53 tables, 50 repos, 20 ms
    .venv/bin/python bench/run.py --replay --max-workers 32
    .venv/bin/python bench/run.py --buckets 100 --tables 10 --repos 10 --runs 1
    .venv/bin/python bench/run.py --peers custodian,prowler   # also Cloud Custodian, Prowler

A moto server on loopback sits behind WSGI middleware that adds a latency per request and
counts requests per operation. The fleet is seeded with mixed settings and its ground
truth written down; policycheck runs against it (median wall time of --runs after a
warm-up, peak memory (PSS of all its processes), requests, requests per resource against
the floor of one call per needed fact, agreement with the ground truth), then
bench/yardstick.py, a minimal boto3
scanner making exactly the floor's calls at the same concurrency. --replay records moto's
answers during the warm-up and serves them from memory afterwards, so moto's CPU (about
3.7 ms a request on 2 cores) no longer sets the pace and the latency-bound regime shows
(bench/replay.py: an asyncio server in its own process, tens of microseconds a request).
--peers runs Cloud Custodian and Prowler on the same fleet, each from its own venv under
bench/.peers (see bench/peers.py). Never calls AWS.
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import yaml

from peers import PEERS, install
from policycheck.checks.ecr import DEMO_MANIFEST
from policycheck.demo.seeding import DEMO_CREDENTIALS
from policycheck.demo.server import moto_server, operation_of
from replay import Recording, replay_server, request_key

ECR_MANIFEST = json.dumps(DEMO_MANIFEST)

REGION = "eu-central-1"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: Facts per resource the benchmark's checks need (the floor), plus one account fact.
FACTS_PER = {"bucket": 5, "table": 2, "repo": 2}


class Middleware:
    """Latency per request, counts per operation, and a recording of every answer."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.enabled = False
        self.counts: Counter[str] = Counter()
        self.recorded: Recording = {}
        self.lock = threading.Lock()

    def __call__(self, app: Any) -> Any:
        def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
            if not self.enabled:
                return app(environ, start_response)
            operation = operation_of(environ)  # may rewind the body (query protocol)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            key = request_key(
                environ["REQUEST_METHOD"],
                environ.get("PATH_INFO", ""),
                environ.get("QUERY_STRING", ""),
                environ.get("HTTP_X_AMZ_TARGET", ""),
                body,
            )
            with self.lock:
                self.counts[operation] += 1
            time.sleep(self.latency_s)
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list, exc_info: Any = None) -> Any:
                captured["status"], captured["headers"] = status, headers
                return start_response(status, headers, exc_info)

            payload = b"".join(app(environ, capture))
            with self.lock:
                self.recorded[key] = (captured["status"], captured["headers"], payload)
            return [payload]

        return wrapped


def keep_tagged_policy(keep: int) -> dict:
    """An ECR lifecycle policy that expires tagged images beyond the newest ``keep`` (the
    check passes at 10 or more)."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            }
        ]
    }


def seed_fleet(url: str, buckets: int, tables: int, repos: int) -> dict[str, str]:
    """Create the fleet with mixed settings; return the ground truth, check|name -> status."""
    import boto3

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=url, **DEMO_CREDENTIALS)

    s3, ddb, ecr = client("s3"), client("dynamodb"), client("ecr")
    truth: dict[str, str] = {}
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    for i in range(buckets):
        name = f"bench-bucket-{i:04d}"
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        versioned, encrypted, blocked = i % 3 != 0, i % 4 != 0, i % 5 != 0
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if encrypted:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                flag: blocked or flag != "RestrictPublicBuckets" for flag in flags
            },
        )
        if i % 2 == 0:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={
                    "Rules": [
                        {
                            "ID": "audit",
                            "Status": "Enabled",
                            "Filter": {"Prefix": ""},
                            "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
                            "Expiration": {"Days": 365 if i % 4 == 0 else 180},
                        }
                    ]
                },
            )
        denies = i % 7 != 0
        if denies:
            s3.put_bucket_policy(
                Bucket=name,
                Policy=json.dumps(
                    {
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                                "Resource": f"arn:aws:s3:::{name}/*",
                            }
                        ]
                    }
                ),
            )
        truth[f"s3-versioning-enabled|{name}"] = "pass" if versioned else "fail"
        truth[f"s3-encryption-at-rest|{name}"] = "pass" if encrypted else "fail"
        truth[f"s3-public-access-blocked|{name}"] = "pass" if blocked else "fail"
        truth[f"s3-lifecycle-archive-and-expire|{name}"] = "pass" if i % 4 == 0 else "fail"
        truth[f"s3-policy-denies-delete|{name}"] = "pass" if denies else "fail"
    for i in range(tables):
        name = f"bench-table-{i:03d}"
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )
        pitr, ttl = i % 2 == 0, i % 3 != 0
        if pitr:
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": True,
                    "RecoveryPeriodInDays": 35,
                },
            )
        if ttl:
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
            )
        truth[f"dynamodb-pitr-enabled|{name}"] = "pass" if pitr else "fail"
        truth[f"dynamodb-ttl-enabled|{name}"] = "pass" if ttl else "fail"
    for i in range(repos):
        name = f"bench-repo-{i:03d}"
        ecr.create_repository(repositoryName=name)
        keep = 10 if i % 2 == 0 else 5
        ecr.put_lifecycle_policy(
            repositoryName=name, lifecyclePolicyText=json.dumps(keep_tagged_policy(keep))
        )
        if i % 5 != 0:
            ecr.put_image(repositoryName=name, imageManifest=ECR_MANIFEST, imageTag="v1")
        truth[f"ecr-lifecycle-retains-tagged|{name}"] = "pass" if keep == 10 else "fail"
        truth[f"ecr-image-available|{name}"] = "pass" if i % 5 != 0 else "fail"
    return truth


def write_policy(directory: Path) -> Path:
    """A policy discovering the fleet by name pattern."""
    policy = {
        "version": 1,
        "environments": {"bench": {"region": REGION}},
        "resources": {
            "buckets": {"type": "s3_bucket", "name": "bench-bucket-*"},
            "tables": {"type": "dynamodb_table", "name": "bench-table-*"},
            "repos": {"type": "ecr_repository", "name": "bench-repo-*"},
        },
        "checks": [
            {"check": c, "resources": ["buckets"]}
            for c in (
                "s3-versioning-enabled",
                "s3-encryption-at-rest",
                "s3-public-access-blocked",
                "s3-lifecycle-archive-and-expire",
                "s3-policy-denies-delete",
            )
        ]
        + [
            {"check": c, "resources": ["tables"]}
            for c in ("dynamodb-pitr-enabled", "dynamodb-ttl-enabled")
        ]
        + [
            {"check": c, "resources": ["repos"]}
            for c in ("ecr-lifecycle-retains-tagged", "ecr-image-available")
        ],
    }
    (directory / "controls").symlink_to(REPO / "controls")
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def _tree(pid: int) -> list[int]:
    """A process and all its descendants (Linux /proc)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with suppress(OSError):
                pending += [int(child) for child in (task / "children").read_text().split()]
    return found


def _pss_kib(pids: list[int]) -> int:
    """Proportional set size of the processes together: shared pages counted once."""
    total = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0
        )
    return total


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall seconds, peak memory (MiB) and exit code of a child process. Memory is the
    peak of the process tree's summed PSS, sampled every 20 ms (a tool that forks workers
    is charged for all of them, shared pages once), or the process's peak RSS if larger
    (a short peak between samples)."""
    started = time.perf_counter()
    peak_kib = 0
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak_kib = max(peak_kib, _pss_kib(_tree(process.pid)))
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace")[-3000:])
    return elapsed, max(peak_kib, usage.ru_maxrss) // 1024, process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buckets", type=int, default=1006)
    parser.add_argument("--tables", type=int, default=53)
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--max-workers", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3, help="timed runs after the warm-up")
    parser.add_argument(
        "--replay", action="store_true", help="serve recorded answers from memory after the warm-up"
    )
    parser.add_argument(
        "--peers",
        default="",
        metavar="LIST",
        help="also run these tools on the fleet, each from its own venv under bench/.peers "
        f"(installed on first use): {', '.join(PEERS)}",
    )
    args = parser.parse_args()
    peers = [PEERS[name] for name in args.peers.split(",") if name]

    middleware = Middleware(args.latency_ms / 1000)
    resources = args.buckets + args.tables + args.repos
    floor = (
        args.buckets * FACTS_PER["bucket"]
        + args.tables * FACTS_PER["table"]
        + args.repos * FACTS_PER["repo"]
        + 1
        + 3
    )  # + account fact, 3 list calls
    with moto_server(middleware) as url, tempfile.TemporaryDirectory() as scratch:
        print(
            f"seeding {args.buckets} buckets, {args.tables} tables, {args.repos} repositories ...",
            file=sys.stderr,
        )
        truth = seed_fleet(url, args.buckets, args.tables, args.repos)
        policy = write_policy(Path(scratch))
        env = {
            **{k: v for k, v in os.environ.items() if k != "AWS_PROFILE"},
            **DEMO_CREDENTIALS_ENV,
            "AWS_ENDPOINT_URL": url,
        }
        out = Path(scratch) / "out"
        run = [
            sys.executable,
            "-m",
            "policycheck",
            "run",
            "--policy",
            str(policy),
            "--output-dir",
            str(out),
            "--format",
            "json",
            "--fail-on",
            "none",
            "--max-workers",
            str(args.max_workers),
        ]
        yardstick = [
            sys.executable,
            str(HERE / "yardstick.py"),
            "--endpoint-url",
            url,
            "--buckets",
            str(args.buckets),
            "--tables",
            str(args.tables),
            "--repos",
            str(args.repos),
            "--max-workers",
            str(args.max_workers),
        ]
        commands = [("policycheck", run), ("yardstick", yardstick)]
        skipped = []
        for peer in peers:
            executable = install(peer)
            if isinstance(executable, str):
                skipped.append(f"{peer.name}: {executable}")
            else:
                commands.append((peer.name, peer.command(executable, Path(scratch), REGION)))
        middleware.enabled = True
        rows = []
        for label, command in commands:
            middleware.counts.clear()
            middleware.recorded.clear()
            timed(command, env)  # warm-up, recorded
            warm_requests = sum(middleware.counts.values())
            with ExitStack() as stack:
                target, misses = url, None
                if args.replay:
                    target, misses = stack.enter_context(
                        replay_server(middleware.recorded, args.latency_ms / 1000)
                    )
                timed_env = {**env, "AWS_ENDPOINT_URL": target}
                timed_command = [target if part == url else part for part in command]
                times, rss = [], 0
                for _ in range(args.runs):
                    seconds, peak, code = timed(timed_command, timed_env)
                    times.append(seconds)
                    rss = max(rss, peak)
                    if code != 0:
                        skipped.append(f"{label}: exited {code}")
                        break
                if misses is not None and misses.value:
                    skipped.append(f"{label}: {misses.value} requests were not in the recording")
                    times = []
            if len(times) == args.runs:
                rows.append((label, statistics.median(times), rss, warm_requests))
            if label == "policycheck":
                report = json.loads((out / "report.json").read_text())
                seen = {
                    f"{r['check_id']}|{r['resource']['name']}": r["status"]
                    for r in report["results"]
                }
                agreement = sum(seen.get(k) == v for k, v in truth.items()) / len(truth)
    mode = "replay" if args.replay else "moto"
    print(
        f"fleet: {resources} resources ({args.buckets} buckets, {args.tables} tables, "
        f"{args.repos} repositories); latency {args.latency_ms:g} ms; "
        f"--max-workers {args.max_workers}; mode {mode}; median of {args.runs}"
    )
    print(f"floor: {floor} requests ({floor / resources:.2f} per resource)")
    latency_floor = (3 + floor / args.max_workers) * args.latency_ms / 1000
    print(f"latency floor: {latency_floor:.2f} s (list rounds + calls / workers x latency)")
    print(f"{'tool':<12} {'wall s':>8} {'peak MiB':>9} {'requests':>9} {'per resource':>13}")
    for label, seconds, rss, requests in rows:
        print(f"{label:<12} {seconds:8.2f} {rss:9d} {requests:9d} {requests / resources:13.2f}")
    ratio = rows[0][1] / rows[1][1]
    print(f"policycheck / yardstick wall time: {ratio:.2f}x")
    for label, seconds, _, requests in rows[2:]:
        print(
            f"{label} / policycheck: wall time {seconds / rows[0][1]:.2f}x, "
            f"requests {requests / rows[0][3]:.2f}x"
        )
    for reason in skipped:
        print(f"skipped {reason}")
    print(f"agreement with ground truth: {agreement:.1%} of {len(truth)} verdicts")
    return 0


DEMO_CREDENTIALS_ENV = {
    "AWS_ACCESS_KEY_ID": DEMO_CREDENTIALS["aws_access_key_id"],
    "AWS_SECRET_ACCESS_KEY": DEMO_CREDENTIALS["aws_secret_access_key"],
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}

if __name__ == "__main__":
    raise SystemExit(main())
