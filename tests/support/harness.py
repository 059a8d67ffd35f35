"""The harness the tests share: the repository's paths, moto on loopback
(:class:`MotoServer`), the CLI run in-process or as a process (:func:`run_cli`), a
workspace holding a copy of the shipped policy, an audit of it, and the demo served as
the docs start it. The fixtures that hand these out are in tests/conftest.py."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
import yaml

from policycheck.demo.seeding import seed_repository
from policycheck.demo.server import reset
from policycheck.policy.load import Policy, load_policy
from support.faults import FaultInjector

if TYPE_CHECKING:
    from policycheck.report.model import Report

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
POLICY_PATH = REPO / "policy.yaml"


def without_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the tests can reach AWS: dummy credentials, no profile (for each test;
    a module-scoped set-up, which comes before, calls it in a MonkeyPatch.context())."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@dataclass
class MotoServer:
    url: str
    faults: FaultInjector
    #: What the server holds, named by whoever made it with ``holding`` (None: unknown).
    holds: tuple[str, Any] | None = None

    def empty(self) -> None:
        """No faults, no resources (and nothing known to be held)."""
        self.faults.clear()
        reset(self.url)
        self.holds = None

    def holding(self, name: str, make: Callable[[], T]) -> T:
        """The server holding what ``make`` puts in it (and returns), without faults:
        made after emptying the server, unless it still holds it from an earlier test
        (tests that only read an account share it while no one empties the server)."""
        if self.holds is None or self.holds[0] != name:
            self.empty()
            self.holds = (name, make())
        self.faults.clear()
        return self.holds[1]  # type: ignore[no-any-return]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


#: Commands that always run in a subprocess: the demo starts a moto server of its own,
#: whose state moto keeps per process (it would reset the tests' server).
SUBPROCESS_COMMANDS = {"demo"}


def run_cli(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    subprocess_: bool = False,
) -> CliResult:
    """Run the real ``policycheck`` CLI: its ``main`` in this process (the same parser,
    commands, exit codes and output, without starting an interpreter), or, with
    ``subprocess_`` (and for the demo), as a process of its own: the walk-through, the
    signals and the installed wheel need a real process."""
    argv = [str(arg) for arg in args]
    if subprocess_ or (argv and argv[0] in SUBPROCESS_COMMANDS):
        completed = subprocess.run(
            [sys.executable, "-m", "policycheck", *argv],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(completed.returncode, completed.stdout, completed.stderr)
    return _run_main(argv, cwd, env or {})


def _run_main(argv: list[str], cwd: Path | None, env: dict[str, str]) -> CliResult:
    """``policycheck.cli.main(argv)`` with its own working directory, environment, output
    streams, signal handlers and log handlers, all put back afterwards."""
    import contextlib
    import io
    import logging
    import signal

    from policycheck.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    handlers = {n: signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGHUP)}
    logger = logging.getLogger("policycheck")
    log_handlers, level = list(logger.handlers), logger.level
    try:
        os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        logger.handlers[:] = log_handlers
        logger.setLevel(level)
    return CliResult(code, out.getvalue(), err.getvalue())


@dataclass
class Workspace:
    """A copy of the shipped policy (controls beside it) in a scratch directory, with its
    (empty) drill evidence directory inside it, where seeding makes a git repository, so
    that seeding never writes into this repository."""

    directory: Path
    policy_path: Path
    evidence_dir: Path

    @property
    def policy(self) -> Policy:
        return load_policy(self.policy_path)

    def edit(self, change: Callable[[dict], None]) -> None:
        """Change the policy document (parsed YAML) in place."""
        document = yaml.safe_load(self.policy_path.read_text())
        change(document)
        self.policy_path.write_text(yaml.safe_dump(document, sort_keys=False))


def compliant_platform(tmp_path: Path) -> Workspace:
    """A workspace that is a compliant platform repository (git; the demo's writer): the
    repository checks pass on it, in a plan run as live."""
    space = new_workspace(tmp_path)
    seed_repository(space.policy)
    return space


def new_workspace(tmp_path: Path) -> Workspace:
    directory = tmp_path / "workspace"
    directory.mkdir()
    (directory / "controls").symlink_to(REPO / "controls")
    space = Workspace(directory, directory / "policy.yaml", directory / "evidence")
    space.policy_path.write_text(POLICY_PATH.read_text())
    space.edit(lambda document: document.update(evidence_dir=str(space.evidence_dir)))
    space.evidence_dir.mkdir()
    return space


@dataclass(frozen=True)
class Call:
    """One API call a run made: its service, the service's signing name (the prefix of
    its IAM actions), the operation and its parameters."""

    service: str
    signing_name: str
    operation: str
    params: dict


@dataclass(frozen=True)
class RecordedRun:
    report: "Report"
    calls: list[Call]


def audit(
    endpoint: "MotoServer | str",
    workspace: Workspace,
    *args: str | Path,
    out: Path | None = None,
    env: dict[str, str] | None = None,
    subprocess_: bool = False,
) -> tuple[CliResult, dict | None]:
    """`policycheck run` with the workspace's policy against an endpoint; the result and
    the report it wrote (None when it exited 2)."""
    import json

    url = endpoint if isinstance(endpoint, str) else endpoint.url
    out = out or workspace.directory / "out"
    result = run_cli(
        "run",
        "--policy",
        workspace.policy_path,
        "--endpoint-url",
        url,
        "--output-dir",
        out,
        *args,
        env=env,
        subprocess_=subprocess_,
    )
    report = json.loads((out / "report.json").read_text()) if result.returncode != 2 else None
    return result, report


def as_from_a_terminal() -> None:
    """``preexec_fn`` of a child the test stops with Ctrl-C: as from a terminal. A shell
    starting the suite in the background leaves SIGINT ignored, which children inherit
    (and Python then installs no KeyboardInterrupt handler)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def served_demo(cwd: Path, *args: str) -> Iterator[tuple[dict[str, str], Path]]:
    """`policycheck demo --serve ARGS`, as the README starts it: the variables its export
    lines set and the directory its cd line names; Ctrl-C at the end, which must stop it
    (exit 0)."""
    import shlex
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "policycheck", "demo", "--serve", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        *exports, cd = [process.stdout.readline() for _ in range(5)]  # ready when printed
        assert all(line.startswith("export ") for line in exports), process.stderr.read()
        env = dict(line.removeprefix("export ").strip().split("=", 1) for line in exports)
        yield env, Path(shlex.split(cd)[1])
    finally:
        process.send_signal(signal.SIGINT)
        stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 0, stderr
    assert "demo: stopped" in stderr
