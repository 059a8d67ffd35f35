"""Benchmark policycheck against a simulated account, with the yardstick scanner beside it.

    .venv/bin/python bench/run.py                      # 1,006 buckets, 53 tables, 50 repos, 20 ms
    .venv/bin/python bench/run.py --replay --max-workers 32
    .venv/bin/python bench/run.py --buckets 100 --tables 10 --repos 10 --runs 1
    .venv/bin/python bench/run.py --peers custodian,prowler   # also Cloud Custodian, Prowler
    .venv/bin/python bench/run.py --synthetic --buckets 46000 --tables 2000 --repos 2000 \
        --max-workers 32 --runs 1                      # 50,000 resources, no moto seeding

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
--synthetic (implies --replay) seeds only the demo platform (the shipped policy.yaml, with
the demo's deliberate violations) and a few template resources in moto; the fleet's
buckets, tables and repositories exist only in the replay server, their settings drawn
from --seed (bench/fleet.py), so that 50,000 resources take minutes. Its policy is the
shipped one plus the fleet's nine checks in prod; the ground truth covers every result.
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
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleet import Fleet
from peers import PEERS, install
from policycheck.checks.ecr import DEMO_MANIFEST
from policycheck.demo.seeding import DEMO_CREDENTIALS
from policycheck.demo.server import moto_server, operation_of
from replay import Recording, replay_server, request_key
from yardstick import listed

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
        #: Called with every request and its answer (bench/fleet.py learns templates).
        self.observer: Callable[[str, str, str, str, bytes, Any], None] | None = None
        self.lock = threading.Lock()

    def __call__(self, app: Any) -> Any:
        def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
            if not self.enabled:
                return app(environ, start_response)
            operation = operation_of(environ)  # may rewind the body (query protocol)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            request = (
                environ["REQUEST_METHOD"],
                environ.get("PATH_INFO", ""),
                environ.get("QUERY_STRING", ""),
                environ.get("HTTP_X_AMZ_TARGET", ""),
                body,
            )
            key = request_key(*request)
            with self.lock:
                self.counts[operation] += 1
            time.sleep(self.latency_s)
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list, exc_info: Any = None) -> Any:
                captured["status"], captured["headers"] = status, headers
                return start_response(status, headers, exc_info)

            payload = b"".join(app(environ, capture))
            answer = (captured["status"], captured["headers"], payload)
            with self.lock:
                self.recorded[key] = answer
            if self.observer:
                self.observer(*request, answer)
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
    """Create the fleet with mixed settings; return the ground truth,
    environment|check|name -> status."""
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
        truth[f"bench|s3-versioning-enabled|{name}"] = "pass" if versioned else "fail"
        truth[f"bench|s3-encryption-at-rest|{name}"] = "pass" if encrypted else "fail"
        truth[f"bench|s3-public-access-blocked|{name}"] = "pass" if blocked else "fail"
        truth[f"bench|s3-lifecycle-archive-and-expire|{name}"] = "pass" if i % 4 == 0 else "fail"
        truth[f"bench|s3-policy-denies-delete|{name}"] = "pass" if denies else "fail"
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
        truth[f"bench|dynamodb-pitr-enabled|{name}"] = "pass" if pitr else "fail"
        truth[f"bench|dynamodb-ttl-enabled|{name}"] = "pass" if ttl else "fail"
    for i in range(repos):
        name = f"bench-repo-{i:03d}"
        ecr.create_repository(repositoryName=name)
        keep = 10 if i % 2 == 0 else 5
        ecr.put_lifecycle_policy(
            repositoryName=name, lifecyclePolicyText=json.dumps(keep_tagged_policy(keep))
        )
        if i % 5 != 0:
            ecr.put_image(repositoryName=name, imageManifest=ECR_MANIFEST, imageTag="v1")
        truth[f"bench|ecr-lifecycle-retains-tagged|{name}"] = "pass" if keep == 10 else "fail"
        truth[f"bench|ecr-image-available|{name}"] = "pass" if i % 5 != 0 else "fail"
    return truth


#: The fleet's checks, by resource group.
FLEET_CHECKS = {
    "buckets": (
        "s3-versioning-enabled",
        "s3-encryption-at-rest",
        "s3-public-access-blocked",
        "s3-lifecycle-archive-and-expire",
        "s3-policy-denies-delete",
    ),
    "tables": ("dynamodb-pitr-enabled", "dynamodb-ttl-enabled"),
    "repos": ("ecr-lifecycle-retains-tagged", "ecr-image-available"),
}
FLEET_GROUPS = {
    "buckets": {"type": "s3_bucket", "name": "bench-bucket-*"},
    "tables": {"type": "dynamodb_table", "name": "bench-table-*"},
    "repos": {"type": "ecr_repository", "name": "bench-repo-*"},
}


def write_policy(directory: Path, platform: bool = False) -> Path:
    """A policy discovering the fleet by name pattern: alone in environment ``bench``, or
    (``platform``) in prod beside the shipped policy's demo platform."""
    checks = [
        {"check": c, "resources": [group]} for group, ids in FLEET_CHECKS.items() for c in ids
    ]
    policy: dict[str, Any] = {
        "version": 1,
        "environments": {"bench": {"region": REGION}},
        "resources": FLEET_GROUPS,
        "checks": checks,
    }
    if platform:
        policy = platform_policy()
        policy["resources"].update(FLEET_GROUPS)
        policy["checks"] += [{**check, "environments": ["prod"]} for check in checks]
    (directory / "controls").symlink_to(REPO / "controls")
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def platform_policy() -> dict[str, Any]:
    """The shipped policy, its drill evidence in a directory beside it."""
    policy: dict[str, Any] = yaml.safe_load((REPO / "policy.yaml").read_text())
    policy["evidence_dir"] = "dr-test-evidence"
    return policy


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


def _high_water_kib(pid: int) -> int:
    """The process's peak resident set since it started its program (VmHWM)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0
    )


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall seconds, peak memory (MiB) and exit code of a child process. Memory is the
    peak of the process tree's summed PSS, sampled every 20 ms (a tool that forks workers
    is charged for all of them, shared pages once), or the main process's own peak RSS
    (VmHWM) if larger (a short peak between samples). Not the rusage's ru_maxrss: Linux
    carries it across exec from the process that forked the child, here this benchmark
    with moto and its recordings."""
    started = time.perf_counter()
    peak_kib = 0
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        while True:
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            tree = _pss_kib(_tree(process.pid))
            peak_kib = max(peak_kib, tree, _high_water_kib(process.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace")[-3000:])
    return elapsed, peak_kib // 1024, process.returncode


@dataclass
class Setup:
    """A seeded or synthetic fleet, ready to be audited."""

    policy: Path
    #: environment|check|name -> the status the result must have.
    truth: dict[str, str]
    resources: int
    #: The fleet's requests at the floor (one per needed fact, every list page, the
    #: account fact), before the platform's (synthetic: counted in the warm-up).
    floor: int
    #: Requests that must follow one another (list pages, dependent calls).
    rounds: int
    fleet: Fleet | None = None


def setup_seeded(url: str, args: argparse.Namespace, scratch: Path) -> Setup:
    print(
        f"seeding {args.buckets} buckets, {args.tables} tables, {args.repos} repositories ...",
        file=sys.stderr,
    )
    truth = seed_fleet(url, args.buckets, args.tables, args.repos)
    counts = {"bucket": args.buckets, "table": args.tables, "repo": args.repos}
    floor = sum(FACTS_PER[kind] * count for kind, count in counts.items()) + 1 + 3
    return Setup(write_policy(scratch), truth, sum(counts.values()), floor, rounds=3)


def setup_synthetic(
    url: str, args: argparse.Namespace, scratch: Path, middleware: Middleware
) -> Setup:
    """The demo platform and the templates in moto; the fleet's answers learnt."""
    from policycheck.demo.command import DEMO_DEVIATIONS
    from policycheck.demo.seeding import seed
    from policycheck.plugin.registry import load_registry
    from policycheck.policy.load import load_policy

    counts = {"bucket": args.buckets, "table": args.tables, "repo": args.repos}
    fleet = Fleet(args.seed, counts, ECR_MANIFEST, REGION)
    path = write_policy(scratch, platform=True)
    platform = scratch / "platform.yaml"  # without the fleet: what moto holds
    platform.write_text(yaml.safe_dump(platform_policy(), sort_keys=False))
    policy = load_policy(platform, load_registry())
    print("seeding the demo platform and the fleet's templates ...", file=sys.stderr)
    seed(policy, url, deviations=DEMO_DEVIATIONS)
    clients = _clients(url)
    for service, operation, params in fleet.template_calls():
        getattr(clients[service], operation)(**params)
    fleet.platform = {
        kind: [name for name in names if not name.startswith("tpl-")]
        for kind, names in listed(clients, REGION, "").items()
    }
    middleware.enabled, middleware.observer = True, fleet.learn
    fleet.read_templates(clients)
    middleware.enabled, middleware.observer = False, None
    middleware.counts.clear()
    middleware.recorded.clear()
    truth = platform_truth(policy, DEMO_DEVIATIONS) | fleet.truth("prod")
    pages = fleet.pages()
    floor = sum(FACTS_PER[kind] * count for kind, count in counts.items()) + sum(pages.values())
    # The platform's dynamodb-access-isolated reads the resource policy of every table of
    # the account (the fleet's too) after listing them all. The warm-up counted one page
    # and the template tables, which the fleet's listing does not show.
    templates = sum(1 for _, operation, _ in fleet.template_calls() if operation == "create_table")
    floor += counts["table"] + pages["table"] - 1 - templates
    return Setup(path, truth, sum(counts.values()), floor, 1 + max(pages.values()), fleet)


def _clients(url: str) -> dict[str, Any]:
    import boto3

    return {
        service: boto3.client(service, region_name=REGION, endpoint_url=url, **DEMO_CREDENTIALS)
        for service in ("s3", "dynamodb", "ecr")
    }


def platform_truth(policy: Any, deviations: Any) -> dict[str, str]:
    """Every result of the demo platform passes, except the deliberate violations (on the
    resource wherever it is seen, as the demo seeds them)."""
    from policycheck.policy.templates import is_pattern

    def bound(environment: str) -> list[tuple[str, str, str]]:
        return [
            (binding.check.id, instance.parent, instance.name)
            for binding in policy.bindings
            if binding.applies_in(environment)
            for group in binding.resource_groups
            for instance in policy.resources_in(group, environment)
            if not is_pattern(instance.name)
        ]

    deviated = {
        target
        for d in deviations
        for target in bound(d.environment)
        if target[0] == d.check_id and target[2] == d.resource_name
    }
    return {
        f"{environment}|{check}|{name}": "fail" if (check, parent, name) in deviated else "pass"
        for environment in policy.environments
        for check, parent, name in bound(environment)
    }


#: The platform's longest chain of calls that wait for one another: one cluster's task
#: roles (ListServices, DescribeServices, then per service its task definition and its
#: role's policies), counted in the warm-up per ListServices call.
CHAIN_OPERATIONS = (
    "ListServices",
    "DescribeTaskDefinition",
    "ListRolePolicies",
    "GetRolePolicy",
    "ListAttachedRolePolicies",
    "GetPolicy",
    "GetPolicyVersion",
)


def platform_share(warm: Counter[str], setup: Setup) -> tuple[int, int]:
    """The platform's requests and sequential rounds, from policycheck's warm-up against
    moto (where the fleet's three listings found none of it: one page each)."""
    requests = sum(warm.values()) - 1 - 3  # the caller identity, the fleet's listings
    clusters = warm["ListServices"] or 1
    chain = 1 + sum(warm[op] for op in CHAIN_OPERATIONS) // clusters
    return requests, chain


@dataclass
class Row:
    label: str
    seconds: float
    peak_mib: int
    requests: int


def measure(
    label: str,
    command: list[str],
    url: str,
    env: dict[str, str],
    args: argparse.Namespace,
    middleware: Middleware,
    setup: Setup,
) -> tuple[Row | None, list[str], Counter[str]]:
    """Warm up (recorded from moto), then the timed runs; the row, what went wrong, the
    warm-up's requests by operation."""
    problems: list[str] = []
    warm: Counter[str] = Counter()
    if setup.fleet is None or label == "policycheck":
        if setup.fleet is None:
            middleware.recorded.clear()
        middleware.counts.clear()
        timed(command, env)  # warm-up, recorded
        warm = Counter(middleware.counts)
    requests = sum(warm.values())
    with ExitStack() as stack:
        target, counters = url, None
        if args.replay:
            synthesize = setup.fleet.answer if setup.fleet else None
            target, counters = stack.enter_context(
                replay_server(middleware.recorded, args.latency_ms / 1000, synthesize)
            )
        timed_env = {**env, "AWS_ENDPOINT_URL": target}
        timed_command = [target if part == url else part for part in command]
        times, peak = [], 0
        for _ in range(args.runs):
            if counters:
                counters.reset()
            seconds, mib, code = timed(timed_command, timed_env)
            times.append(seconds)
            peak = max(peak, mib)
            if code != 0:
                problems.append(f"{label}: exited {code}")
                return None, problems, warm
        if counters and counters.misses.value:
            problems.append(f"{label}: {counters.misses.value} requests were not in the recording")
            return None, problems, warm
        if setup.fleet and counters:
            requests = counters.served.value
        if args.views and label == "policycheck":
            problems += measure_views(
                timed_command, timed_env, Path(command[command.index("--output-dir") + 1])
            )
    return Row(label, statistics.median(times), peak, requests), problems, warm


def results_in(path: Path) -> int:
    """The number of results a report.json says it has (its summary, read first)."""
    from policycheck.report.jsonstream import JsonReader

    with open(path, encoding="utf-8") as file:
        reader = JsonReader(file)
        for key in reader.members():
            value = reader.value()
            if key == "summary":
                return int(value["results"]["total"])
    return 0


def measure_views(run: list[str], env: dict[str, str], out: Path) -> list[str]:
    """render (every format), merge and diff of the run's report, each timed with its peak
    memory: the report of the run, merged with the same run's prod and dev reports made
    separately (as a nightly merge joins its environments), and diffed with itself."""
    dev, prod, views = out.parent / "dev", out.parent / "prod", out.parent / "views"
    problems = []
    for environment, directory in (("dev", dev), ("prod", prod)):
        command = [*run[: run.index("--output-dir") + 1], str(directory)]
        command += [*run[run.index("--output-dir") + 2 :], "--env", environment]
        if timed(command, env)[2] != 0:
            problems.append(f"policycheck --env {environment}: failed")
    policycheck = [sys.executable, "-m", "policycheck"]
    commands = {
        "render": ["render", str(out / "report.json"), "-o", str(views / "render")],
        "merge": ["merge", str(dev / "report.json"), str(prod / "report.json")],
        "diff": ["diff", str(out / "report.json"), str(out / "report.json"), "--format", "json"],
    }
    commands["render"] += ["--format", "json,markdown,csv,junit,sarif,summary,oscal,html"]
    commands["merge"] += ["-o", str(views / "merge")]
    print(f"views of a report of {results_in(out / 'report.json')} results:")
    for name, arguments in commands.items():
        seconds, mib, code = timed([*policycheck, *arguments], env)
        print(
            f"  {name:<8} {seconds:8.2f} s {mib:6d} MiB peak" + (f" (exit {code})" if code else "")
        )
    rendered = sorted((views / "render").glob("*")) if (views / "render").exists() else []
    sizes = ", ".join(f"{path.name} {path.stat().st_size:,}" for path in rendered)
    print(f"  bytes: {sizes}")
    return problems


def agreement(report_path: Path, truth: dict[str, str]) -> tuple[float, int]:
    """The share of the ground truth the report agrees with; results the truth lacks."""
    report = json.loads(report_path.read_text())
    seen = {
        f"{r['environment']}|{r['check_id']}|{r['resource']['name']}": r["status"]
        for r in report["results"]
    }
    agreed = sum(seen.get(key) == status for key, status in truth.items())
    return agreed / len(truth), len(seen.keys() - truth.keys())


def parse_arguments() -> argparse.Namespace:
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
        "--synthetic",
        action="store_true",
        help="the fleet only in the replay server, drawn from --seed, beside the demo platform "
        "seeded in moto (implies --replay)",
    )
    parser.add_argument("--seed", type=int, default=15, help="the synthetic fleet's seed")
    parser.add_argument(
        "--views",
        action="store_true",
        help="after policycheck's timed runs: time render (every format), merge and diff of "
        "its report, with their peak memory",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of timing: run policycheck once under tracemalloc (bench/memprofile.py) "
        "and print what it holds at the end of each stage",
    )
    parser.add_argument(
        "--format", default="json,markdown", help="policycheck's report formats (its default)"
    )
    parser.add_argument(
        "--peers",
        default="",
        metavar="LIST",
        help="also run these tools on the fleet, each from its own venv under bench/.peers "
        f"(installed on first use): {', '.join(PEERS)}",
    )
    args = parser.parse_args()
    args.replay = args.replay or args.synthetic
    return args


def main() -> int:
    args = parse_arguments()
    peers = [PEERS[name] for name in args.peers.split(",") if name]
    middleware = Middleware(args.latency_ms / 1000)
    with moto_server(middleware) as url, tempfile.TemporaryDirectory() as scratch:
        if args.synthetic:
            setup = setup_synthetic(url, args, Path(scratch), middleware)
        else:
            setup = setup_seeded(url, args, Path(scratch))
        env = {
            **{k: v for k, v in os.environ.items() if k != "AWS_PROFILE"},
            **DEMO_CREDENTIALS_ENV,
            "AWS_ENDPOINT_URL": url,
        }
        out = Path(scratch) / "out"
        run = [sys.executable, "-m", "policycheck", "run", "--policy", str(setup.policy)]
        run += ["--output-dir", str(out), "--format", args.format, "--fail-on", "none"]
        run += ["--max-workers", str(args.max_workers)]
        yardstick = [sys.executable, str(HERE / "yardstick.py"), "--endpoint-url", url]
        yardstick += ["--max-workers", str(args.max_workers)]
        if args.profile:
            return profile(run, url, env, args, middleware, setup)
        commands = [("policycheck", run), ("yardstick", yardstick)]
        problems = []
        for peer in peers:
            executable = install(peer)
            if isinstance(executable, str):
                problems.append(f"{peer.name}: {executable}")
            else:
                commands.append((peer.name, peer.command(executable, Path(scratch), REGION)))
        middleware.enabled = True
        rows = []
        for label, command in commands:
            row, trouble, warm = measure(label, command, url, env, args, middleware, setup)
            problems += trouble
            rows += [row] if row else []
            if label == "policycheck":
                if setup.fleet:
                    platform, chain = platform_share(warm, setup)
                    setup.floor += platform
                    setup.rounds += chain
                agreed, extra = agreement(out / "report.json", setup.truth)
        print_table(args, setup, rows, problems, agreed, extra)
    return 0


def profile(
    run: list[str],
    url: str,
    env: dict[str, str],
    args: argparse.Namespace,
    middleware: Middleware,
    setup: Setup,
) -> int:
    """policycheck once, in one process under tracemalloc (bench/memprofile.py), against
    the replayed fleet: what it holds at the end of each stage."""
    middleware.enabled = True
    timed(run, env)  # recorded
    synthesize = setup.fleet.answer if setup.fleet else None
    with replay_server(middleware.recorded, args.latency_ms / 1000, synthesize) as (target, _):
        command = [sys.executable, str(HERE / "memprofile.py"), *run[3:], "--processes", "1"]
        command = [target if part == url else part for part in command]
        started = time.perf_counter()
        code = subprocess.run(command, env={**env, "AWS_ENDPOINT_URL": target}).returncode
        print(f"profiled run: exit {code}, {time.perf_counter() - started:.1f} s under tracemalloc")
    return code


def print_table(
    args: argparse.Namespace,
    setup: Setup,
    rows: list[Row],
    problems: list[str],
    agreed: float,
    extra: int,
) -> None:
    resources = setup.resources
    mode = "synthetic replay" if args.synthetic else "replay" if args.replay else "moto"
    print(
        f"fleet: {resources} resources ({args.buckets} buckets, {args.tables} tables, "
        f"{args.repos} repositories){' + the demo platform' if args.synthetic else ''}; "
        f"latency {args.latency_ms:g} ms; --max-workers {args.max_workers}; mode {mode}; "
        f"median of {args.runs}"
    )
    print(f"floor: {setup.floor} requests ({setup.floor / resources:.2f} per resource)")
    latency_floor = (setup.rounds + setup.floor / args.max_workers) * args.latency_ms / 1000
    print(
        f"latency floor: {latency_floor:.2f} s ({setup.rounds} rounds in sequence + "
        f"requests / workers, x latency)"
    )
    print(
        f"{'tool':<12} {'wall s':>8} {'x floor':>8} {'peak MiB':>9} {'requests':>9} "
        f"{'per resource':>13}"
    )
    for row in rows:
        print(
            f"{row.label:<12} {row.seconds:8.2f} "
            + (f"{row.seconds / latency_floor:8.2f} " if latency_floor else f"{'-':>8} ")
            + f"{row.peak_mib:9d} {row.requests:9d} {row.requests / resources:13.2f}"
        )
    if len(rows) > 1 and rows[0].label == "policycheck" and rows[1].label == "yardstick":
        print(f"policycheck / yardstick wall time: {rows[0].seconds / rows[1].seconds:.2f}x")
    for row in rows[2:]:
        print(
            f"{row.label} / policycheck: wall time {row.seconds / rows[0].seconds:.2f}x, "
            f"requests {row.requests / rows[0].requests:.2f}x"
        )
    for reason in problems:
        print(f"skipped {reason}")
    print(
        f"agreement with ground truth: {agreed:.1%} of {len(setup.truth)} verdicts"
        + (f"; {extra} results the truth does not know" if extra else "")
    )


DEMO_CREDENTIALS_ENV = {
    "AWS_ACCESS_KEY_ID": DEMO_CREDENTIALS["aws_access_key_id"],
    "AWS_SECRET_ACCESS_KEY": DEMO_CREDENTIALS["aws_secret_access_key"],
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}

if __name__ == "__main__":
    raise SystemExit(main())
