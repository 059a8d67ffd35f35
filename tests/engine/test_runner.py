"""Runs that always end, with a report (issue 10): a deadline, STS throttling at the
start, credentials that refresh, clean termination by signals, internal errors."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from policycheck import cli
from policycheck.deadline import Deadline, DeadlineReached, parse_duration
from policycheck.demo.seeding import seed
from policycheck.engine import runner
from policycheck.engine.aws import (
    AwsSetup,
    Connection,
    _retrying,
    client_config,
    credentials_last_the_deadline,
    identify,
)
from policycheck.engine.fetching import FactKey, FactRequest, collect
from policycheck.errors import InputError
from policycheck.plugin.facts import FactSpec
from policycheck.plugin.registry import load_registry
from support.faults import Fault
from support.harness import MotoServer, Workspace, as_from_a_terminal, audit

REGION = "eu-central-1"

# --- the deadline ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("25m", 1500), ("1h30m", 5400), ("2h", 7200)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0", "25", "90", "soon", "5 m", "1d", "-3s", "25h", "3000000h"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def _fact(name: str, fetch) -> FactSpec:  # type: ignore[no-untyped-def]
    bucket = load_registry().resource_types["s3_bucket"]
    return FactSpec(f"test.{name}", bucket, ("s3:GetBucketVersioning",), fetch)


def _collect(specs: list[FactSpec], deadline: Deadline) -> dict[str, object]:
    requests = {FactKey("1", REGION, spec.name, "b"): FactRequest(spec, "b") for spec in specs}
    outcomes = collect(requests, lambda _: lambda _s: None, max_workers=2, deadline=deadline)
    return {key.fact.removeprefix("test."): outcome for key, outcome in outcomes.items()}


def test_past_deadline_reads_nothing_and_every_fact_is_an_error() -> None:
    calls = []
    fact = _fact("never", lambda ctx: calls.append(1))
    clock = iter([100.0] * 50).__next__
    deadline = Deadline(at=50.0, label="25m", clock=clock)
    [outcome] = _collect([fact], deadline).values()
    assert calls == [] and outcome.error.code == "DeadlineReached"  # type: ignore[attr-defined]
    assert outcome.error.message == "deadline reached (25m); not read"  # type: ignore[attr-defined]


def test_deadline_returns_with_what_was_read_and_abandons_the_rest() -> None:
    """One fact answers, one hangs (an HTTP read that never ends): at the deadline the
    first has its value, the second is an error, and collect returns without waiting.
    The deadline passes when the first has answered, however fast the machine is."""
    release, answered = threading.Event(), threading.Event()

    def quick_answer(ctx: object) -> dict[str, str]:
        answered.set()
        return {"Status": "Enabled"}

    quick = _fact("quick", quick_answer)
    hanging = _fact("hanging", lambda ctx: release.wait(600))
    deadline = Deadline(at=3600.0, label="1h", clock=lambda: 7200.0 if answered.is_set() else 0)
    try:
        outcomes = _collect([quick, hanging], deadline)
    finally:
        release.set()
    assert outcomes["quick"].value == {"Status": "Enabled"}  # type: ignore[attr-defined]
    assert outcomes["hanging"].error.code == "DeadlineReached"  # type: ignore[attr-defined]


def _deadline_passes_when(monkeypatch: pytest.MonkeyPatch, passed: Callable[[], bool]) -> None:
    """The run's deadline on a clock that stands still until ``passed()`` and is then far
    past it: what a run does at its deadline, decided by what happened, never by how fast
    the machine is (the run must keep to one process: --processes 1)."""
    after = Deadline.after

    class OnTheTestsClock:
        @staticmethod
        def after(seconds: float) -> Deadline:
            return after(seconds, lambda: 10.0**9 if passed() else 0.0)

    monkeypatch.setattr(runner, "Deadline", OnTheTestsClock)


def test_no_attempt_starts_after_the_deadline(moto: MotoServer) -> None:
    """The client hook: a call (or a retry) after the deadline raises before sending."""
    moment = [0.0]
    deadline = Deadline(at=10.0, label="10s", clock=lambda: moment[0])
    setup = AwsSetup(boto3.Session(region_name=REGION), moto.url, client_config(2), deadline)
    s3 = setup.client("s3", REGION)
    s3.list_buckets()
    moment[0] = 11.0
    before = sum(moto.faults.requests.values())
    with pytest.raises(DeadlineReached):
        s3.list_buckets()
    assert sum(moto.faults.requests.values()) == before  # nothing was sent


def test_deadline_ends_a_throttled_run_with_a_report(
    moto: MotoServer, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permanent throttling: the run stops at its deadline (here: once S3 has throttled
    three attempts), writes every report, says the deadline was reached, and exits 3."""
    seed(workspace.policy, moto.url)
    moto.faults.add(Fault("GetBucketVersioning", "Throttling", 400))
    _deadline_passes_when(monkeypatch, lambda: moto.faults.injected["GetBucketVersioning"] >= 3)
    # The throttled service gets one lane, so that its retries do not hold every worker.
    limits = ("--max-workers", "4", "--max-per-service", "s3=1", "--processes", "1")
    result, report = audit(moto, workspace, "--deadline", "1h", *limits, "--env", "dev")
    assert result.returncode == 3, result.stdout + result.stderr
    assert report["run"]["deadline"] == "1h" and report["run"]["deadline_reached"] is True
    late = [r for r in report["results"] if r["error"] and r["error"]["code"] == "DeadlineReached"]
    assert late and all("deadline reached (1h); not read" in r["message"] for r in late)
    assert {r["status"] for r in report["results"]} <= {"pass", "error"}
    markdown = (workspace.directory / "out" / "report.md").read_text()
    assert "| Deadline " in markdown
    assert "1h — **reached**: facts not read by then are errors" in markdown
    assert "not assessed: the deadline (1h) was reached" in result.stdout


# --- STS at the start: throttling is retried, not "credentials do not work" --------------


def test_first_call_retries_throttling_within_the_deadline() -> None:
    from botocore.exceptions import ClientError

    answers = iter(["Throttling", "ThrottlingException", "ServiceUnavailable"])
    sleeps: list[float] = []

    def call() -> dict[str, str]:
        code = next(answers, None)
        if code is None:
            return {"Account": "123456789012"}
        status = 503 if code == "ServiceUnavailable" else 400
        raise ClientError(
            {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "GetCallerIdentity",
        )

    assert _retrying(call, Deadline(), sleep=sleeps.append) == {"Account": "123456789012"}
    assert len(sleeps) == 3 and all(0 <= s <= 4 for s in sleeps)


def test_first_call_never_sleeps_past_the_deadline() -> None:
    from botocore.exceptions import ClientError

    def call() -> dict[str, str]:
        raise ClientError(
            {"Error": {"Code": "Throttling"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
            "GetCallerIdentity",
        )

    deadline = Deadline(at=0.0, label="1s", clock=lambda: 0.0)
    with pytest.raises(DeadlineReached):
        _retrying(call, deadline, sleep=lambda s: pytest.fail("slept past the deadline"))


def test_real_credential_error_is_not_retried() -> None:
    from botocore.exceptions import ClientError

    calls = []

    def call() -> dict[str, str]:
        calls.append(1)
        raise ClientError(
            {
                "Error": {"Code": "InvalidClientTokenId"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            },
            "GetCallerIdentity",
        )

    with pytest.raises(ClientError):
        _retrying(call, Deadline(), sleep=lambda s: None)
    assert calls == [1]


def test_throttled_sts_at_start_does_not_end_the_run(
    moto: MotoServer, workspace: Workspace
) -> None:
    seed(workspace.policy, moto.url)
    workspace.edit(
        lambda d: d["environments"]["dev"].update(
            role_arn="arn:aws:iam::123456789012:role/policycheck-readonly"
        )
    )
    # Once each: how many times and how long the first call retries is proved in-process
    # above (test_first_call_retries_throttling_within_the_deadline); here, that the real
    # CLI goes on.
    moto.faults.add(Fault("GetCallerIdentity", "Throttling", 400, times=1))
    moto.faults.add(Fault("AssumeRole", "Throttling", 400, times=1))
    result, report = audit(moto, workspace, "--env", "dev")
    assert result.returncode in (0, 1), result.stderr  # audited, not "credentials do not work"
    assert moto.faults.injected["GetCallerIdentity"] == 1
    assert moto.faults.injected["AssumeRole"] == 1
    assert report["run"]["environments"][0]["caller_arn"].endswith(
        ":assumed-role/policycheck-readonly/policycheck"
    )


def test_configured_role_that_stays_throttled_errs_its_results_only(
    moto: MotoServer, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AssumeRole throttled until the deadline (here: once it has been throttled twice)
    says nothing about the credentials: the environment's results are errors and the
    report is written (exit 3), instead of the whole run ending with exit 2. (With
    --deadline 3s a loaded machine reached the deadline before the run's own identity was
    read: exit 2.)"""
    seed(workspace.policy, moto.url)
    workspace.edit(
        lambda d: d["environments"]["dev"].update(
            role_arn="arn:aws:iam::123456789012:role/policycheck-readonly"
        )
    )
    moto.faults.add(Fault("AssumeRole", "Throttling", 400))
    _deadline_passes_when(monkeypatch, lambda: moto.faults.injected["AssumeRole"] >= 2)
    options = ("--env", "dev", "--deadline", "1h", "--processes", "1")
    result, report = audit(moto, workspace, *options)
    assert result.returncode == 3, result.stderr
    [location] = report["run"]["environments"]
    assert "DeadlineReached" in (location["error"] or "")
    assert {r["status"] for r in report["results"]} == {"error"}


def test_configured_role_refused_ends_the_run(moto: MotoServer, workspace: Workspace) -> None:
    workspace.edit(
        lambda d: d["environments"]["dev"].update(
            role_arn="arn:aws:iam::123456789012:role/policycheck-readonly"
        )
    )
    moto.faults.add(Fault("AssumeRole", "AccessDenied", 403))
    result, report = audit(moto, workspace, "--env", "dev")
    assert result.returncode == 2 and report is None
    assert "cannot assume arn:aws:iam::123456789012:role/policycheck-readonly" in result.stderr


# --- assumed-role credentials refresh -------------------------------------------------


def test_assumed_role_credentials_refresh_before_they_expire(moto: MotoServer) -> None:
    """A run longer than the role session: once the session nears its end (the clock is
    moved 50 minutes on), the credentials are assumed again, and the calls go on with the
    new ones; the old ones have expired (the server refuses them)."""
    now = [datetime.now(UTC)]
    setup = AwsSetup(
        boto3.Session(region_name=REGION),
        moto.url,
        client_config(2),
        clock=lambda: now[0],
    )
    role = "arn:aws:iam::111111111111:role/policycheck-readonly"
    access = identify(setup, REGION, role)
    assert access.account_id == "111111111111"
    s3 = Connection("dev", REGION, access, setup).client("s3")
    s3.list_buckets()
    first_key = access.credentials.get_frozen_credentials().access_key  # type: ignore[union-attr]
    assert moto.faults.requests["AssumeRole"] == 1

    moto.faults.add(Fault("ListBuckets", "ExpiredToken", 400, access_key=first_key))
    now[0] += timedelta(minutes=50)  # 10 minutes left: botocore must refresh now
    s3.list_buckets()  # would fail with ExpiredToken on the first session's key
    assert moto.faults.requests["AssumeRole"] == 2
    assert moto.faults.injected["ListBuckets"] == 0
    second_key = access.credentials.get_frozen_credentials().access_key  # type: ignore[union-attr]
    assert second_key != first_key


def test_role_session_duration_is_honoured(moto: MotoServer, workspace: Workspace) -> None:
    workspace.edit(lambda d: d.update(run={"role_session_seconds": 100}))
    result, _ = audit(moto, workspace)
    assert result.returncode == 2
    assert "run.role_session_seconds: Input should be greater than or equal to 900" in (
        result.stderr
    )


# --- clean termination ------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(") ")[-1][:1] != "Z"


def _handles(pid: int, signum: int) -> bool:
    """Whether the process has installed a handler for ``signum`` (SigCgt in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _wait_until(condition, timeout: float = 30) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("signum", "code", "processes"),
    [
        (signal.SIGINT, 130, "1"),
        (signal.SIGTERM, 143, "2"),
        (signal.SIGHUP, 129, "2"),
        (signal.SIGTERM, 143, "1"),
    ],
)
def test_signals_stop_the_run_cleanly(
    moto: MotoServer, workspace: Workspace, signum: int, code: int, processes: str
) -> None:
    """Interrupted mid-collection by Ctrl-C, `timeout` or a CI runner: the fetch
    processes stop, the previous report is intact, no temporary file remains."""
    seed(workspace.policy, moto.url)
    out = workspace.directory / "out"
    out.mkdir()
    (out / "report.json").write_text("previous report")
    moto.faults.delay = 0.3
    with moto.faults.lock:  # seeding's own calls (DescribeTable while tables are created)
        moto.faults.requests.clear()
    scratch = workspace.directory / "tmp"  # where the run spools its results
    scratch.mkdir()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "policycheck", "run", "--policy", workspace.policy_path),
            *("--endpoint-url", moto.url, "--output-dir", out, "--processes", processes),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    collecting = ("GetBucketVersioning", "DescribeTable", "GetLifecyclePolicy")
    assert _wait_until(lambda: any(moto.faults.requests[op] for op in collecting))
    assert _wait_until(lambda: _handles(process.pid, signum))
    if processes != "1":
        assert _wait_until(lambda: len(_children(process.pid)) >= int(processes))
    children = _children(process.pid)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert f"interrupted ({signal.Signals(signum).name}); no new report written" in stderr
    assert "Traceback" not in stderr
    assert _wait_until(lambda: not any(_alive(child) for child in children), timeout=60)
    assert (out / "report.json").read_text() == "previous report"
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".out")) == []
    assert list(scratch.iterdir()) == []


def test_internal_error_has_its_own_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_args: object) -> int:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli.schema, "execute", broken)
    assert cli.main(["schema", "report"]) == cli.EXIT_INTERNAL == 70
    err = capsys.readouterr().err
    assert err == (
        "policycheck: internal error: RuntimeError: boom (rerun with --verbose for the traceback)\n"
    )
    assert cli.main(["schema", "report", "--verbose"]) == 70
    assert "Traceback (most recent call last)" in capsys.readouterr().err


# --- credentials that cannot last the deadline -------------------------------------------


def test_a_deadline_longer_than_the_credentials_last_is_refused_at_start(
    moto: MotoServer, workspace: Workspace
) -> None:
    """In GitHub Actions the OIDC credentials live an hour and an assumed role cannot be
    refreshed past them: a longer deadline ended in a wall of errors."""
    expiry = (datetime.now(UTC) + timedelta(minutes=30, seconds=30)).isoformat()
    env = {"AWS_SESSION_TOKEN": "token", "AWS_CREDENTIAL_EXPIRATION": expiry}
    result, _ = audit(moto, workspace, "--deadline", "1h", "--env", "dev", env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "policycheck: error: --deadline 1h is longer than the AWS credentials last: they "
        "(env) expire at "
    )
    assert "in 30 minutes, and cannot be renewed by this run. Give a shorter --deadline" in (
        result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert not moto.faults.requests["GetBucketVersioning"]  # refused before any check


def test_credentials_that_renew_themselves_do_not_bound_the_deadline() -> None:
    from botocore.credentials import RefreshableCredentials

    session = boto3.Session(region_name=REGION)
    soon = datetime.now(UTC) + timedelta(minutes=5)
    metadata = RefreshableCredentials("a", "b", "c", soon, lambda: {}, method="iam-role")
    session._session._credentials = metadata
    setup = AwsSetup(session, None, client_config(1), Deadline.after(3600))
    credentials_last_the_deadline(setup)  # instance metadata renews: no error
    env = RefreshableCredentials("a", "b", "c", soon, lambda: {}, method="env")
    session._session._credentials = env
    with pytest.raises(InputError, match="--deadline 1h is longer than the AWS credentials last"):
        credentials_last_the_deadline(setup)
    credentials_last_the_deadline(replace(setup, deadline=Deadline.after(240)))  # 4m: lasts
    credentials_last_the_deadline(replace(setup, deadline=Deadline()))  # no deadline
