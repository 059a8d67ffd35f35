"""The GitHub Action (action.yml) and the workflows (.github/workflows/*.yml), run step by
step.

actionlint proves the YAML is well-formed; these tests prove the steps work. ``GitHub``
below runs the jobs of a workflow in the order of their ``needs``, a job per matrix entry,
and each step in order: every ``run:`` script, the workflows' and the composite action's,
in bash as GitHub starts it (``bash -e``, or ``bash --noprofile --norc -eo pipefail`` for
``shell: bash``), with the files and variables GitHub gives a step (GITHUB_OUTPUT,
GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE, RUNNER_TEMP,
GITHUB_ACTION_PATH, ...), and its ``${{ }}`` expressions evaluated by a small evaluator
that refuses any context, property of a strict context, function or construct it does
not know. AWS is moto on loopback (AWS_ENDPOINT_URL).

``uses:`` steps that need GitHub run as stand-ins doing the same to the file system and
the environment: checkout clones a prepared git repository (shallow unless fetch-depth
is 0); setup-python records the version; configure-aws-credentials exports a region and
dummy keys, and refuses a job without ``id-token: write`` or without a role; artifacts go
to a local store by name, per run; upload-sarif is recorded, or refused like GitHub
refuses it (no ``security-events: write``, code scanning not enabled); attest checks its
permissions and the checksums file. A ``uses:`` without a stand-in fails the test, and so
does an input a stand-in does not know. ``gh`` is a stand-in serving earlier runs'
artifacts.

The action's install step runs as written, but ``python3 -m venv`` makes a venv whose pip
records what it is asked to install instead of downloading, and whose ``policycheck`` is
the test venv's: the tests assert the commands (hash-pinned lock, --require-hashes, the
action's own checkout, nothing by a bare name); ``make action-install-check`` runs them
for real. GitHub itself (OIDC tokens, permissions enforced, the artifact and
code-scanning services, the runner image) is what these tests cannot prove.
"""

import fnmatch
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from conftest import REPO, MotoServer
from planbuilder import deviated, platform_plan
from policycheck.demo.seeding import GIT_IDENTITY, Deviation, seed
from policycheck.generated import DOC_PAGES
from policycheck.policy import load_policy

WORKFLOWS = REPO / ".github" / "workflows"
ACTION = REPO / "action.yml"
DOCS = [(REPO / page).read_text() for page in DOC_PAGES]
#: Where adopters find the action, and a repository that adopts it.
POLICYCHECK = "OWNER/policycheck"
ADOPTER = "acme/platform"
ARCHIVE_REGION = "eu-west-1"
PROD_DEVIATION = Deviation("prod", "s3-versioning-enabled", "nn-aiconnectors-audit-prod")


#: The runs against the simulated account are long: two groups of them, each on one xdist
#: worker (tests/conftest.py), that two workers run side by side (each builds the world).
NIGHTLY_RUNS = pytest.mark.xdist_group("workflows-nightly")
ADOPTER_RUNS = pytest.mark.xdist_group("workflows-adopter")


def role(environment: str) -> str:
    return f"arn:aws:iam::123456789012:role/policycheck-readonly-{environment}"


# --- Expressions -------------------------------------------------------------------------


class HarnessError(Exception):
    """The stand-in cannot run this: an unknown expression, action, input or construct."""


class Strict(dict):
    """A context whose unknown keys are errors (inputs, matrix, steps, needs, github, ...),
    where GitHub would quietly give null to a typo."""

    def __missing__(self, key: object) -> Any:
        raise HarnessError(f"unknown property {key!r} (known: {sorted(map(str, self))})")


_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<string>'(?:[^']|'')*')"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>!().,\[\]])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
_STATUS_FUNCTIONS = ("always", "success", "failure", "cancelled")
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position, stripped = 0, text.strip()
        while position < len(stripped):
            match = _TOKEN.match(stripped, position)
            if not match or match.end() == position:
                raise HarnessError(f"cannot read {stripped[position:]!r} in {text!r}")
            position = match.end()
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token != ("op", value)):
            raise HarnessError(f"expected {value or 'more'!r} in {self.text!r}")
        self.at += 1
        return token

    def parse(self) -> tuple:
        node = self.either()
        if self.peek() is not None:
            raise HarnessError(f"unexpected {self.peek()} in {self.text!r}")
        return node

    def either(self) -> tuple:
        node = self.both()
        while self.peek() == ("op", "||"):
            self.take()
            node = ("or", node, self.both())
        return node

    def both(self) -> tuple:
        node = self.compare()
        while self.peek() == ("op", "&&"):
            self.take()
            node = ("and", node, self.compare())
        return node

    def compare(self) -> tuple:
        node = self.unary()
        token = self.peek()
        if token and token[0] == "op" and token[1] in ("==", "!=", "<", ">", "<=", ">="):
            self.take()
            node = ("cmp", token[1], node, self.unary())
        return node

    def unary(self) -> tuple:
        if self.peek() == ("op", "!"):
            self.take()
            return ("not", self.unary())
        node = self.primary()
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                kind, name = self.take()
                if kind != "name":
                    raise HarnessError(f"expected a property name in {self.text!r}")
                node = ("get", node, ("lit", name))
            else:
                node = ("get", node, self.either())
                self.take("]")
        return node

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind == "number":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "string":
            return ("lit", value[1:-1].replace("''", "'"))
        if (kind, value) == ("op", "("):
            node = self.either()
            self.take(")")
            return node
        if kind != "name":
            raise HarnessError(f"unexpected {value!r} in {self.text!r}")
        if value in ("true", "false", "null"):
            return ("lit", {"true": True, "false": False, "null": None}[value])
        if self.peek() != ("op", "("):
            return ("context", value)
        self.take()
        arguments = []
        while self.peek() != ("op", ")"):
            arguments.append(self.either())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")
        return ("call", value, arguments)


def truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0  # NaN and 0 are false
    return True


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else 0.0
        except ValueError:
            return float("nan")
    return float("nan")


def text(value: Any) -> str:
    """A value as GitHub writes it into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    raise HarnessError(f"an object or array in a string: {value!r} (toJSON it)")


class Evaluator:
    def __init__(self, contexts: dict[str, Any], status: str = "success") -> None:
        self.contexts, self.status = contexts, status

    def __call__(self, node: tuple) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "context":
            if node[1] not in self.contexts:
                raise HarnessError(f"unknown context {node[1]!r}")
            return self.contexts[node[1]]
        if kind == "get":
            target, key = self(node[1]), self(node[2])
            if target is None:
                return None
            if isinstance(target, Strict):
                return target[key]
            if isinstance(target, dict):
                return target.get(key)
            if isinstance(target, list) and isinstance(key, int):
                return target[key] if 0 <= key < len(target) else None
            raise HarnessError(f"cannot take {key!r} of {target!r}")
        if kind == "not":
            return not truthy(self(node[1]))
        if kind == "and":
            left = self(node[1])
            return self(node[2]) if truthy(left) else left
        if kind == "or":
            left = self(node[1])
            return left if truthy(left) else self(node[2])
        if kind == "cmp":
            return self.compare(node[1], self(node[2]), self(node[3]))
        return self.call(node[1], [self(argument) for argument in node[2]])

    @staticmethod
    def compare(operator: str, left: Any, right: Any) -> bool:
        if operator in ("==", "!="):
            if isinstance(left, str) and isinstance(right, str):
                equal = left.casefold() == right.casefold()
            elif type(left) is type(right) and not isinstance(left, str):
                equal = left == right
            else:
                equal = _number(left) == _number(right)
            return equal if operator == "==" else not equal
        a, b = _number(left), _number(right)
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[operator]

    def call(self, name: str, arguments: list[Any]) -> Any:
        if name in _STATUS_FUNCTIONS and not arguments:
            return {
                "always": True,
                "cancelled": False,
                "success": self.status == "success",
                "failure": self.status == "failure",
            }[name]
        if name == "fromJSON" and len(arguments) == 1:
            return json.loads(text(arguments[0]))
        if name == "toJSON" and len(arguments) == 1:
            return json.dumps(arguments[0], indent=2)
        if name == "format" and arguments:
            pattern = text(arguments[0])
            parts = re.split(r"(\{\{|\}\}|\{\d+\})", pattern)
            return "".join(
                "{"
                if part == "{{"
                else "}"
                if part == "}}"
                else text(arguments[int(part[1:-1]) + 1])
                if re.fullmatch(r"\{\d+\}", part)
                else part
                for part in parts
            )
        if name == "contains" and len(arguments) == 2:
            haystack, needle = arguments
            if isinstance(haystack, list):
                return any(self.compare("==", item, needle) for item in haystack)
            return text(needle).casefold() in text(haystack).casefold()
        raise HarnessError(f"unknown function {name}() with {len(arguments)} argument(s)")


def evaluate(expression: str, contexts: dict[str, Any], status: str = "success") -> Any:
    return Evaluator(contexts, status)(_Parser(expression).parse())


def interpolate(value: Any, contexts: dict[str, Any], status: str = "success") -> Any:
    """A YAML value with its ${{ }} evaluated: the value itself when the whole string is
    one expression, else a string."""
    if not isinstance(value, str):
        return value
    whole = re.fullmatch(r"\s*\$\{\{(.*?)\}\}\s*", value, re.S)
    if whole:
        return evaluate(whole.group(1), contexts, status)
    return _EXPRESSION.sub(lambda m: text(evaluate(m.group(1), contexts, status)), value)


def condition(when: Any, contexts: dict[str, Any], status: str) -> bool:
    """An ``if:``: GitHub adds ``success() &&`` unless it calls a status function."""
    if when is None:
        when = "success()"
    if isinstance(when, bool):
        return when
    expression = str(when).strip()
    inner = re.fullmatch(r"\$\{\{(.*)\}\}", expression, re.S)
    expression = inner.group(1) if inner else expression
    if not re.search(r"\b(always|success|failure|cancelled)\(", expression):
        expression = f"success() && ({expression})"
    return truthy(evaluate(expression, contexts, status))


def parse_commands_file(content: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: ``name=value`` lines and ``name<<DELIMITER`` blocks."""
    values: dict[str, str] = {}
    lines = content.splitlines()
    at = 0
    while at < len(lines):
        line = lines[at]
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            values[line[:equals]] = line[equals + 1 :]
        elif heredoc >= 0:
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            try:
                end = lines.index(delimiter, at + 1)
            except ValueError:
                raise HarnessError(f"{name}: no closing {delimiter!r}") from None
            values[name] = "\n".join(lines[at + 1 : end])
            at = end
        elif line.strip():
            raise HarnessError(f"not a command-file line: {line!r}")
        at += 1
    return values


# --- The runner ----------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    id: str | None
    outcome: str
    conclusion: str
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""
    uses: str | None = None
    children: list["Step"] = field(default_factory=list)


@dataclass
class Job:
    name: str
    matrix: dict[str, Any] | None
    result: str
    steps: list[Step]
    outputs: dict[str, str]
    summary: str
    workspace: Path
    permissions: dict[str, str]

    def all_steps(self) -> list[Step]:
        def walk(steps: list[Step]) -> list[Step]:
            return [s for step in steps for s in (step, *walk(step.children))]

        return walk(self.steps)

    def step(self, key: str) -> Step:
        for step in self.all_steps():
            if key in (step.id, step.name) or (step.uses or "").startswith(key):
                return step
        raise KeyError(f"{self.name}: no step {key!r}")

    def log(self) -> str:
        return "\n".join(f"--- {s.name} ({s.outcome})\n{s.log}" for s in self.all_steps())


@dataclass
class Run:
    id: int
    workflow: str
    branch: str
    artifacts: Path
    jobs: dict[str, list[Job]] = field(default_factory=dict)

    @property
    def conclusion(self) -> str:
        results = [job.result for jobs in self.jobs.values() for job in jobs]
        return "failure" if "failure" in results else "success"

    def job(self, name: str, **matrix: str) -> Job:
        for job in self.jobs[name]:
            entry = {
                k: (v["name"] if isinstance(v, dict) else v) for k, v in (job.matrix or {}).items()
            }
            if all(entry.get(k) == v for k, v in matrix.items()):
                return job
        raise KeyError(f"no job {name} {matrix}")


@dataclass
class _JobState:
    name: str
    home: Path
    workspace: Path
    temp: Path
    env: dict[str, str]
    permissions: dict[str, str]
    run: Run
    sha: str
    paths: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    counter: int = 0


_FAKE_PYTHON = """#!@REAL@
# python3 of the test runner: `python3 -m venv DIR` makes a venv whose pip records what it
# is asked to install instead of downloading it; anything else is the test venv's python.
import os, sys
from pathlib import Path

args = sys.argv[1:]
if args[:2] == ["-m", "venv"] and len(args) == 3:
    venv = Path(args[2])
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    shim = venv / "bin" / "python"
    shim.write_text(Path(@SHIM@).read_text().replace("@VENV@", str(venv)))
    shim.chmod(0o755)
    sys.exit(0)
os.execv("@REAL@", ["@REAL@", *args])
"""
_FAKE_VENV_PYTHON = """#!@REAL@
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
if args[:2] == ["-m", "pip"]:
    with open(os.environ["POLICYCHECK_TEST_PIP_LOG"], "a") as log:
        log.write(json.dumps({"venv": "@VENV@", "args": args[2:]}) + "\\n")
    if args[2:3] == ["install"] and "--no-deps" in args:
        command = Path("@VENV@") / "bin" / "policycheck"
        command.write_text('#!/bin/sh\\nexec "@REAL@" -P -m policycheck "$@"\\n')
        command.chmod(0o755)
    sys.exit(0)
os.execv("@REAL@", ["@REAL@", *args])
"""
_FAKE_GH = """#!@REAL@
# gh of the test runner: lists earlier runs and downloads their artifacts.
import argparse, json, os, shutil, sys
from pathlib import Path

if not os.environ.get("GH_TOKEN"):
    sys.exit("gh: set the GH_TOKEN environment variable to use GitHub CLI in Actions")
state = json.loads(Path(os.environ["FAKE_GH_STATE"]).read_text())
if os.environ.get("GH_REPO", state["repository"]) != state["repository"]:
    sys.exit(f"gh: no repository {os.environ['GH_REPO']}")
parser = argparse.ArgumentParser(prog="gh")
args = sys.argv[1:]
if args[:2] == ["run", "list"]:
    for option in ("--workflow", "--branch", "--status", "--json", "--jq"):
        parser.add_argument(option)
    parser.add_argument("--limit", type=int, default=20)
    o = parser.parse_args(args[2:])
    if (o.json, o.jq) != ("databaseId", ".[0].databaseId // empty"):
        sys.exit(f"gh stand-in: --json {o.json} --jq {o.jq} not supported")
    runs = [
        r for r in reversed(state["runs"])
        if r["workflow"] == o.workflow and r["branch"] == o.branch
        and o.status in (None, r["conclusion"])
    ][: o.limit]
    if runs:
        print(runs[0]["id"])
elif args[:2] == ["run", "download"]:
    parser.add_argument("id")
    parser.add_argument("--name", required=True)
    parser.add_argument("--dir", default=".")
    o = parser.parse_args(args[2:])
    [run] = [r for r in state["runs"] if str(r["id"]) == o.id] or [None]
    source = Path(run["artifacts"]) / o.name if run else None
    if source is None or not source.is_dir():
        sys.exit(f"gh: no artifact {o.name} in run {o.id}")
    shutil.copytree(source, o.dir, dirs_exist_ok=True)
else:
    sys.exit(f"gh stand-in: no stand-in for gh {' '.join(args)}")
"""


def _git(directory: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=directory, check=True, capture_output=True, text=True
    ).stdout.strip()


class GitHub:
    """Runs workflows like GitHub would, on this machine (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        *,
        repository: str,
        repos: dict[str, Path],
        endpoint: str,
        vars: dict[str, str] | None = None,
        environments: dict[str, dict[str, str]] | None = None,
        code_scanning: bool = True,
    ) -> None:
        self.root, self.repository, self.repos, self.endpoint = root, repository, repos, endpoint
        self.vars = vars or {}
        self.environments = environments or {}
        self.code_scanning = code_scanning
        self.runs: list[Run] = []
        self.calls: list[dict[str, Any]] = []
        self.pip_log = root / "pip.log"
        self.pip_log.touch()
        self.tools = root / "tools"
        self.tools.mkdir(parents=True)
        real = sys.executable
        shim = self.tools / "venv-python"
        shim.write_text(_FAKE_VENV_PYTHON.replace("@REAL@", real))
        for name, source in (("python3", _FAKE_PYTHON), ("gh", _FAKE_GH)):
            tool = self.tools / name
            tool.write_text(source.replace("@REAL@", real).replace("@SHIM@", repr(str(shim))))
            tool.chmod(0o755)
        # The runner's PATH: nothing that provides policycheck unless a step installs it.
        self.path = os.pathsep.join(
            [str(self.tools)]
            + [
                d
                for d in os.environ["PATH"].split(os.pathsep)
                if d and not (Path(d) / "policycheck").exists()
            ]
        )

    def called(self, uses: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["uses"] == uses]

    def pip_installs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.pip_log.read_text().splitlines()]

    # -- workflows and jobs

    def run(
        self,
        workflow: str | None = None,
        *,
        text: str | None = None,
        jobs: list[str] | None = None,
        inputs: dict[str, str] | None = None,
        branch: str = "main",
        workflow_repository: str | None = None,
        artifacts: dict[str, Path] | None = None,
    ) -> Run:
        """``artifacts``: uploaded earlier in the run, by the caller of a reusable workflow
        (name -> a directory of files)."""
        name = workflow or "workflow.yml"
        document = yaml.safe_load(text if text is not None else (WORKFLOWS / name).read_text())
        run = Run(
            len(self.runs) + 1, name, branch, self.root / "artifacts" / str(len(self.runs) + 1)
        )
        run.artifacts.mkdir(parents=True)
        for artifact, source in (artifacts or {}).items():
            shutil.copytree(source, run.artifacts / artifact)
        (self.root / "gh.json").write_text(
            json.dumps(
                {
                    "repository": self.repository,
                    "runs": [
                        {
                            "id": r.id,
                            "workflow": r.workflow,
                            "branch": r.branch,
                            "conclusion": r.conclusion,
                            "artifacts": str(r.artifacts),
                        }
                        for r in self.runs
                    ],
                }
            )
        )
        trigger = document.get("on", document.get(True)) or {}
        call_inputs = self._call_inputs(trigger, inputs or {})
        workflow_repository = workflow_repository or self.repository
        outcomes: dict[str, tuple[str, dict[str, str]]] = {}
        for job_name in self._order(document["jobs"]):
            if jobs is not None and job_name not in jobs:
                continue
            spec = document["jobs"][job_name]
            needs = spec.get("needs") or []
            needs = [needs] if isinstance(needs, str) else needs
            for need in needs:
                if need not in outcomes:
                    raise HarnessError(f"{job_name} needs {need}, which did not run")
            results = {outcomes[need][0] for need in needs}
            status = (
                "failure"
                if "failure" in results
                else "success"
                if results <= {"success"}
                else "skipped"
            )
            contexts: dict[str, Any] = {
                "github": Strict(
                    repository=self.repository,
                    ref_name=branch,
                    sha=self._head(self.repository),
                    token="ghs_test-token",
                    run_id=str(run.id),
                    event_name="workflow_dispatch",
                    action_path="",
                ),
                "job": Strict(
                    workflow_repository=workflow_repository,
                    workflow_sha=self._head(workflow_repository),
                ),
                "inputs": call_inputs,
                "needs": Strict(
                    {n: {"result": outcomes[n][0], "outputs": outcomes[n][1]} for n in needs}
                ),
                "vars": dict(self.vars),
                "secrets": {},
                "env": {},
            }
            if not condition(spec.get("if"), contexts, status):
                run.jobs[job_name] = []
                outcomes[job_name] = ("skipped", {})
                continue
            for matrix in self._matrix(spec, contexts, status):
                job = self._job(run, job_name, spec, document, dict(contexts), matrix)
                run.jobs.setdefault(job_name, []).append(job)
            ran = run.jobs[job_name]
            result = "failure" if any(j.result == "failure" for j in ran) else "success"
            outcomes[job_name] = (result, ran[-1].outputs)
        self.runs.append(run)
        return run

    def _head(self, repository: str) -> str:
        if repository not in self.repos:
            return "0" * 40  # checking it out fails
        return _git(self.repos[repository], "rev-parse", "HEAD")

    @staticmethod
    def _order(jobs: dict[str, Any]) -> list[str]:
        order: list[str] = []
        while len(order) < len(jobs):
            ready = [
                name
                for name, spec in jobs.items()
                if name not in order
                and all(
                    n in order
                    for n in (
                        [spec["needs"]]
                        if isinstance(spec.get("needs"), str)
                        else spec.get("needs") or []
                    )
                )
            ]
            if not ready:
                raise HarnessError("a cycle in needs")
            order += ready[:1]
        return order

    @staticmethod
    def _call_inputs(trigger: Any, given: dict[str, str]) -> Strict:
        declared = (
            trigger.get("workflow_call", {}).get("inputs", {}) if isinstance(trigger, dict) else {}
        )
        if unknown := set(given) - set(declared or {}):
            raise HarnessError(f"inputs {sorted(unknown)} are not declared")
        values = Strict()
        for name, spec in (declared or {}).items():
            value = given.get(name, spec.get("default", ""))
            values[name] = truthy(value) if spec.get("type") == "boolean" else text(value)
        return values

    @staticmethod
    def _matrix(
        spec: dict[str, Any], contexts: dict[str, Any], status: str
    ) -> list[dict[str, Any] | None]:
        matrix = (spec.get("strategy") or {}).get("matrix")
        if matrix is None:
            return [None]
        matrix = interpolate(matrix, contexts, status)
        axes: dict[str, list[Any]] = {}
        for key, values in matrix.items():
            if key in ("include", "exclude"):
                raise HarnessError(f"matrix {key}: no stand-in")
            values = interpolate(values, contexts, status)
            if not isinstance(values, list) or not values:
                raise HarnessError(f"matrix {key} is {values!r}: GitHub needs a non-empty list")
            axes[key] = values
        return [
            dict(zip(axes, combination, strict=True))
            for combination in itertools.product(*axes.values())
        ]

    def _job(
        self,
        run: Run,
        name: str,
        spec: dict[str, Any],
        document: dict[str, Any],
        contexts: dict[str, Any],
        matrix: dict[str, Any] | None,
    ) -> Job:
        count = len(run.jobs.get(name, []))
        home = self.root / "runs" / str(run.id) / f"{name}-{count}"
        workspace, temp = home / "workspace", home / "temp"
        workspace.mkdir(parents=True)
        temp.mkdir()
        contexts["matrix"] = Strict(matrix or {})
        environment = spec.get("environment")
        if isinstance(environment, dict):
            environment = environment["name"]
        environment = text(interpolate(environment, contexts)) if environment else ""
        contexts["vars"] = {**self.vars, **self.environments.get(environment, {})}
        contexts["github"] = Strict({**contexts["github"], "workspace": str(workspace)})
        contexts["runner"] = Strict(temp=str(temp), os="Linux", arch="X64")
        permissions = spec.get("permissions", document.get("permissions"))
        if not isinstance(permissions, dict):
            raise HarnessError(f"{name}: permissions {permissions!r}: declare them per job")
        env = {
            key: text(interpolate(value, contexts))
            for key, value in {**(document.get("env") or {}), **(spec.get("env") or {})}.items()
        }
        state = _JobState(
            name, home, workspace, temp, env, permissions, run, contexts["github"]["sha"]
        )
        contexts["env"] = state.env
        contexts["steps"] = Strict()
        steps, failed = self._steps(state, spec["steps"], contexts)
        status = "failure" if failed else "success"
        outputs = {
            k: text(interpolate(v, contexts, status))
            for k, v in (spec.get("outputs") or {}).items()
        }
        return Job(
            name, matrix, status, steps, outputs, "".join(state.summary), workspace, permissions
        )

    def _steps(
        self,
        state: _JobState,
        steps: list[dict[str, Any]],
        contexts: dict[str, Any],
        action: Path | None = None,
    ) -> tuple[list[Step], bool]:
        done: list[Step] = []
        failed = False
        for spec in steps:
            status = "failure" if failed else "success"
            name = spec.get("name") or spec.get("uses") or spec["run"].strip().splitlines()[0]
            if condition(spec.get("if"), contexts, status):
                step = self._step(state, spec, name, contexts, status, action)
                if step.outcome == "failure" and truthy(
                    interpolate(spec.get("continue-on-error", False), contexts)
                ):
                    step.conclusion = "success"
                failed = failed or step.conclusion == "failure"
            else:
                step = Step(name, spec.get("id"), "skipped", "skipped")
            if spec.get("id"):
                contexts["steps"][spec["id"]] = {
                    "outputs": dict(step.outputs),
                    "outcome": step.outcome,
                    "conclusion": step.conclusion,
                }
            done.append(step)
        return done, failed

    def _step(
        self,
        state: _JobState,
        spec: dict[str, Any],
        name: str,
        contexts: dict[str, Any],
        status: str,
        action: Path | None,
    ) -> Step:
        env = {
            k: text(interpolate(v, contexts, status)) for k, v in (spec.get("env") or {}).items()
        }
        if "run" in spec:
            return self._script(state, spec, name, contexts, status, env, action)
        if env:
            raise HarnessError(f"{name}: env on a uses: step has no stand-in")
        uses = spec["uses"]
        given = {
            k: text(interpolate(v, contexts, status)) for k, v in (spec.get("with") or {}).items()
        }
        if uses.startswith("./"):
            directory = state.workspace / uses[2:]
        else:
            repository, _, ref = uses.partition("@")
            if repository in self.repos:
                directory = self._fetch_action(repository, ref)
            else:
                stand_in = STAND_INS.get(repository)
                if stand_in is None:
                    raise HarnessError(f"no stand-in for uses: {uses}")
                allowed, function = stand_in
                if unknown := set(given) - allowed:
                    raise HarnessError(f"{repository}: unknown input(s) {sorted(unknown)}")
                self.calls.append({"uses": repository, "ref": ref, "job": state.name, **given})
                ok, outputs, log = function(self, state, given)
                outcome = "success" if ok else "failure"
                return Step(name, spec.get("id"), outcome, outcome, outputs, log, uses)
        return self._composite(state, spec, name, directory, given, contexts)

    def _fetch_action(self, repository: str, ref: str) -> Path:
        """GitHub downloads a remote action at the ref the caller wrote."""
        if not re.fullmatch(r"[0-9a-f]{40}", ref):
            raise HarnessError(f"{repository}@{ref}: pin a full commit SHA")
        directory = self.root / "_actions" / repository / ref
        if not directory.exists():
            subprocess.run(
                ["git", "clone", "--quiet", str(self.repos[repository]), str(directory)], check=True
            )
            _git(directory, "checkout", "--quiet", "--detach", ref)
        return directory

    def _composite(
        self,
        state: _JobState,
        spec: dict[str, Any],
        name: str,
        directory: Path,
        given: dict[str, str],
        contexts: dict[str, Any],
    ) -> Step:
        metadata = yaml.safe_load((directory / "action.yml").read_text())
        if metadata["runs"]["using"] != "composite":
            raise HarnessError(f"{directory}: only composite actions have a stand-in")
        declared = metadata.get("inputs") or {}
        if unknown := set(given) - set(declared):
            raise HarnessError(f"{directory}: unknown input(s) {sorted(unknown)}")
        inputs = Strict()
        for key, declaration in declared.items():
            if key in given:
                inputs[key] = given[key]
            elif declaration.get("required") and "default" not in declaration:
                raise HarnessError(f"{directory}: input {key} is required")
            else:
                inputs[key] = text(interpolate(declaration.get("default", ""), contexts))
        inner = {
            **contexts,
            "inputs": inputs,
            "steps": Strict(),
            "github": Strict({**contexts["github"], "action_path": str(directory)}),
        }
        children, failed = self._steps(state, metadata["runs"]["steps"], inner, action=directory)
        outputs = {
            key: text(interpolate(declaration["value"], inner))
            for key, declaration in (metadata.get("outputs") or {}).items()
        }
        outcome = "failure" if failed else "success"
        uses = spec["uses"]
        return Step(name, spec.get("id"), outcome, outcome, outputs, "", uses, children)

    def _script(
        self,
        state: _JobState,
        spec: dict[str, Any],
        name: str,
        contexts: dict[str, Any],
        status: str,
        env: dict[str, str],
        action: Path | None,
    ) -> Step:
        shell = spec.get("shell")
        if action is not None and not shell:
            raise HarnessError(f"{name}: a run step of a composite action needs shell:")
        # GitHub's command lines on Linux (shell: unset, or bash).
        command = {
            None: ["bash", "-e"],
            "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"],
        }
        if shell not in command:
            raise HarnessError(f"{name}: shell {shell!r} has no stand-in")
        script = _EXPRESSION.sub(
            lambda m: text(evaluate(m.group(1), contexts, status)), spec["run"]
        )
        state.counter += 1
        files = {
            k: state.home / f"{k}-{state.counter}"
            for k in ("output", "env", "path", "summary", "script")
        }
        for path in files.values():
            path.touch()
        files["script"].write_text(script)
        variables = {
            "HOME": str(self.root / "home"),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(state.workspace),
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REF_NAME": state.run.branch,
            "GITHUB_SHA": state.sha,
            "GITHUB_RUN_ID": str(state.run.id),
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_JOB": state.name,
            "RUNNER_TEMP": str(state.temp),
            "RUNNER_OS": "Linux",
            # The runner's network: AWS is moto; no credentials until a step configures them.
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "POLICYCHECK_TEST_PIP_LOG": str(self.pip_log),
            "FAKE_GH_STATE": str(self.root / "gh.json"),
            **state.env,
            **env,
            "GITHUB_OUTPUT": str(files["output"]),
            "GITHUB_ENV": str(files["env"]),
            "GITHUB_PATH": str(files["path"]),
            "GITHUB_STEP_SUMMARY": str(files["summary"]),
            "PATH": os.pathsep.join([*reversed(state.paths), self.path]),
        }
        if action is not None:
            variables["GITHUB_ACTION_PATH"] = str(action)
        (self.root / "home").mkdir(exist_ok=True)
        completed = subprocess.run(
            [*command[shell], str(files["script"])],
            cwd=state.workspace / spec.get("working-directory", ""),
            env=variables,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
            check=False,
        )
        state.env.update(parse_commands_file(files["env"].read_text()))
        state.paths += [p for p in files["path"].read_text().splitlines() if p.strip()]
        state.summary.append(files["summary"].read_text())
        outcome = "success" if completed.returncode == 0 else "failure"
        outputs = parse_commands_file(files["output"].read_text())
        return Step(name, spec.get("id"), outcome, outcome, outputs, completed.stdout)


# --- Stand-ins for the actions that need GitHub ------------------------------------------


def _allowed(state: _JobState, permission: str) -> bool:
    return state.permissions.get(permission) == "write"


def _checkout(gh: GitHub, state: _JobState, given: dict[str, str]) -> tuple[bool, dict, str]:
    repository = given.get("repository") or gh.repository
    source = gh.repos.get(repository)
    if source is None:
        return False, {}, f"repository {repository} not found"
    destination = state.workspace / given.get("path", "")
    if destination.exists() and destination != state.workspace:
        shutil.rmtree(destination)
    depth = int(given.get("fetch-depth") or 1)
    ref = given.get("ref", "")
    clone = ["git", "clone", "--quiet"] + (["--depth", str(depth)] if depth and not ref else [])
    subprocess.run([*clone, f"file://{source}", str(destination)], check=True, capture_output=True)
    if ref:
        _git(destination, "checkout", "--quiet", "--detach", ref)
    if given.get("persist-credentials", "true") != "false":  # the token, in the work tree
        _git(
            destination,
            "config",
            "http.https://github.com/.extraheader",
            "AUTHORIZATION: basic ***",
        )
    return True, {"commit": _git(destination, "rev-parse", "HEAD")}, f"checked out {repository}"


def _setup_python(gh: GitHub, state: _JobState, given: dict[str, str]) -> tuple[bool, dict, str]:
    version = given.get("python-version", "")
    return bool(version), {"python-version": version}, f"Python {version} (the test venv's)"


def _aws_credentials(gh: GitHub, state: _JobState, given: dict[str, str]) -> tuple[bool, dict, str]:
    if not _allowed(state, "id-token"):
        return False, {}, "Could not get ID token: the job needs id-token: write"
    if not given.get("role-to-assume") or not given.get("aws-region"):
        return False, {}, "Input required and not supplied: role-to-assume / aws-region"
    region = given["aws-region"]
    lines = [
        "AWS_ACCESS_KEY_ID=ASIATESTING",
        "AWS_SECRET_ACCESS_KEY=testing",
        "AWS_SESSION_TOKEN=testing",
        f"AWS_REGION={region}",
        f"AWS_DEFAULT_REGION={region}",
    ]
    state.env.update(parse_commands_file("\n".join(lines)))
    return True, {"aws-account-id": "123456789012"}, f"assumed {given['role-to-assume']}"


def _upload_artifact(gh: GitHub, state: _JobState, given: dict[str, str]) -> tuple[bool, dict, str]:
    store = state.run.artifacts / given["name"]
    source = state.workspace / given["path"]
    if store.exists():
        return False, {}, f"an artifact named {given['name']} already exists in this run"
    if not source.exists():
        missing = given.get("if-no-files-found", "warn")
        return (
            missing != "error",
            {},
            f"::warning::No files were found with the path {given['path']}",
        )
    if source.is_dir():
        shutil.copytree(source, store)
    else:
        store.mkdir()
        shutil.copy2(source, store / source.name)
    return True, {"artifact-id": given["name"]}, f"uploaded {given['name']}"


def _download_artifact(
    gh: GitHub, state: _JobState, given: dict[str, str]
) -> tuple[bool, dict, str]:
    destination = state.workspace / given.get("path", "")
    if given.get("name"):
        source = state.run.artifacts / given["name"]
        if not source.is_dir():
            return False, {}, f"Artifact not found for name: {given['name']}"
        shutil.copytree(source, destination, dirs_exist_ok=True)
        return True, {}, f"downloaded {given['name']}"
    names = sorted(
        p.name for p in state.run.artifacts.iterdir() if fnmatch.fnmatch(p.name, given["pattern"])
    )
    for name in names:
        shutil.copytree(state.run.artifacts / name, destination / name)
    return True, {}, f"downloaded {names}"


def _upload_sarif(gh: GitHub, state: _JobState, given: dict[str, str]) -> tuple[bool, dict, str]:
    sarif = json.loads((state.workspace / given["sarif_file"]).read_text())
    if sarif.get("version") != "2.1.0" or not sarif.get("runs"):
        return False, {}, "not SARIF 2.1.0"
    if not _allowed(state, "security-events"):
        return False, {}, "Resource not accessible by integration (security-events: write)"
    if not gh.code_scanning:
        return False, {}, "Code scanning is not enabled for this repository."
    return True, {"sarif-id": "1"}, f"uploaded {given['sarif_file']} ({given.get('category')})"


def _attest(gh: GitHub, state: _JobState, given: dict[str, str]) -> tuple[bool, dict, str]:
    if not (_allowed(state, "id-token") and _allowed(state, "attestations")):
        return False, {}, "attestations: write and id-token: write are needed"
    lines = (state.workspace / given["subject-checksums"]).read_text().splitlines()
    if not lines or not all(re.fullmatch(r"[0-9a-f]{64} [ *]\S.*", line) for line in lines):
        return False, {}, "subject-checksums is not a sha256sum file"
    return True, {"attestation-id": "1"}, f"attested {len(lines)} subject(s)"


STAND_INS = {
    "actions/checkout": (
        {"repository", "ref", "path", "fetch-depth", "persist-credentials"},
        _checkout,
    ),
    "actions/setup-python": ({"python-version"}, _setup_python),
    "aws-actions/configure-aws-credentials": ({"role-to-assume", "aws-region"}, _aws_credentials),
    "actions/upload-artifact": (
        {"name", "path", "retention-days", "if-no-files-found"},
        _upload_artifact,
    ),
    "actions/download-artifact": ({"name", "pattern", "path"}, _download_artifact),
    "github/codeql-action/upload-sarif": ({"sarif_file", "category"}, _upload_sarif),
    "actions/attest": ({"subject-checksums"}, _attest),
}


# --- The world the workflows run in ------------------------------------------------------


def readme_section(title: str) -> str:
    """The section of the README or of a page of docs/ with this title."""
    [text] = [t for t in DOCS if f"## {title}\n" in t]
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


ADOPT = readme_section("Adopt it in your repository")
[BEFORE_APPLY_WORKFLOW] = re.findall(r"```yaml\n(.*?)```", readme_section("Before apply"), re.S)
RELEASE_GATE_CALL = re.findall(r"```yaml\n(.*?)```", readme_section("In GitHub Actions"), re.S)[0]
[ADOPTER_WORKFLOW] = re.findall(r"```yaml\n(.*?)```", ADOPT, re.S)
ROLE_COMMANDS, VARIABLE_COMMAND = re.findall(
    r"```sh\n(.*?)```", readme_section("The role, once per account"), re.S
)


@dataclass
class World:
    """The repositories (this project's, with drill evidence, and an adopter's holding only
    policy.yaml, controls/, drill evidence and the README's workflow) and the state of the
    simulated AWS account."""

    root: Path
    moto: MotoServer
    policycheck: Path
    adopter: Path
    state: tuple[Deviation, ...] | None = None
    #: The evidence archive's buckets (one per simulated GitHub, whose run ids restart).
    archives: list[str] = field(default_factory=list)

    def fleet(self, *deviations: Deviation) -> None:
        """Seed moto: compliant but for ``deviations`` (only when it holds something else)."""
        if self.state == deviations:
            return
        self.moto.empty()
        scratch = self.root / f"seed-{len(list(self.root.glob('seed-*')))}"
        scratch.mkdir()
        shutil.copy(REPO / "policy.yaml", scratch)
        shutil.copytree(REPO / "controls", scratch / "controls")
        seed(load_policy(scratch / "policy.yaml"), self.moto.url, deviations=deviations)
        for bucket in self.archives:
            self._create_archive(bucket)
        self.state = deviations

    def _create_archive(self, bucket: str) -> None:
        """A bucket with Object Lock, as examples/archive-bucket/ makes it."""
        boto3.client(
            "s3",
            endpoint_url=self.moto.url,
            region_name=ARCHIVE_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": ARCHIVE_REGION},
            ObjectLockEnabledForBucket=True,
        )

    def archived(self, bucket: str) -> dict[str, str | None]:
        """Each object of the archive, and its Object Lock mode."""
        s3 = boto3.client(
            "s3",
            endpoint_url=self.moto.url,
            region_name=ARCHIVE_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {
            o["Key"]: s3.head_object(Bucket=bucket, Key=o["Key"]).get("ObjectLockMode")
            for page in pages
            for o in page.get("Contents", [])
        }

    @property
    def sha(self) -> str:
        return _git(self.policycheck, "rev-parse", "HEAD")

    def github(self, root: Path, **options: Any) -> GitHub:
        """A simulated GitHub, whose repository variables name an evidence archive of its
        own (POLICYCHECK_ARCHIVE_*)."""
        bucket = f"evidence-{len(self.archives)}"
        self._create_archive(bucket)
        self.archives.append(bucket)
        options["vars"] = {
            "POLICYCHECK_ARCHIVE_BUCKET": bucket,
            "POLICYCHECK_ARCHIVE_REGION": ARCHIVE_REGION,
            "POLICYCHECK_ARCHIVE_ROLE_ARN": "arn:aws:iam::123456789012:role/policycheck-archive",
            **options.get("vars", {}),
        }
        options.setdefault("repository", ADOPTER)
        repos = {POLICYCHECK: self.policycheck, ADOPTER: self.adopter, **options.pop("repos", {})}
        return GitHub(root, repos=repos, endpoint=self.moto.url, **options)


def _repository(directory: Path, message: str) -> Path:
    _git(directory, "init", "--quiet", "--initial-branch", "main")
    _git(directory, "add", "-A")
    _git(directory, "commit", "--quiet", "-m", message)
    return directory


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, _moto_server: MotoServer) -> World:
    root = tmp_path_factory.mktemp("github")
    world = World(root, _moto_server, root / "policycheck", root / "adopter")
    world.fleet()
    evidence = root / "seed-0" / "docs" / "compliance" / "dr-test-evidence"
    # This project as GitHub holds it (tracked and new files), with drill evidence.
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        if name.split("/")[0] not in ("tests", "bench") and (REPO / name).is_file():
            (world.policycheck / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, world.policycheck / name)
    # An adopter: policy.yaml, controls/, drill evidence and the README's workflow.
    world.adopter.mkdir()
    shutil.copy(REPO / "policy.yaml", world.adopter)
    shutil.copytree(REPO / "controls", world.adopter / "controls")
    (world.adopter / ".github" / "workflows").mkdir(parents=True)
    (world.adopter / ".github" / "workflows" / "policycheck.yml").write_text(ADOPTER_WORKFLOW)
    for repository in (world.policycheck, world.adopter):
        shutil.copytree(
            evidence,
            repository / "docs" / "compliance" / "dr-test-evidence",
            ignore=shutil.ignore_patterns(".git"),
            dirs_exist_ok=True,
        )
        # The platform layout the seeding committed (Terragrunt, the recovery plan's
        # files and workflows): the repository checks judge the checked-out repository.
        for layout in ("infra", "connectors", ".github/workflows"):
            shutil.copytree(root / "seed-0" / layout, repository / layout, dirs_exist_ok=True)
        _repository(repository, "as GitHub holds it")
    return world


def adopter_workflow(world: World, **replacements: str) -> str:
    """The README's workflow as an adopter commits it: OWNER/policycheck@COMMIT_SHA pinned
    to the commit of policycheck under test; ``replacements`` change it for a test."""
    workflow = ADOPTER_WORKFLOW.replace("COMMIT_SHA", world.sha)
    for old, new in replacements.items():
        assert old in workflow, old
        workflow = workflow.replace(old, new)
    return workflow


def assert_installed_from_the_lock(gh: GitHub, action_dirs: set[Path]) -> None:
    """Every install the action made: the lock with hashes, then its own checkout."""
    installs = [e for e in gh.pip_installs() if e["args"][0] == "install"]
    assert installs and len(installs) == 2 * len({e["venv"] for e in installs})
    resolved = {str(d.resolve()) for d in action_dirs}
    for lock_install, source_install in zip(installs[::2], installs[1::2], strict=True):
        args = lock_install["args"]
        assert {"--require-hashes", "--only-binary", ":all:", "-r"} <= set(args), args
        lock = Path(args[args.index("-r") + 1])
        assert lock.name == "action.txt" and str(lock.parent.parent.resolve()) in resolved, args
        args = source_install["args"]
        assert {"--no-deps", "--no-build-isolation", "--no-index"} <= set(args), args
        assert str(Path(args[-1]).resolve()) in resolved, args
        assert sum(not a.startswith("-") for a in args[1:]) == 1, args  # no name besides it


def assert_archived(
    world: World, gh: GitHub, scope: str, report: dict[str, Any], run_id: str
) -> None:
    """The report set is in the archive under nightly/SCOPE/YYYY/MM/DD/RUN-ID/, as its
    SHA256SUMS lists it, with Object Lock retention."""
    day = datetime.fromisoformat(report["run"]["started_at"]).astimezone(UTC)
    folder = f"nightly/{scope}/{day:%Y/%m/%d}/{run_id}/"
    archived = world.archived(gh.vars["POLICYCHECK_ARCHIVE_BUCKET"])
    kept = {k.removeprefix(folder): mode for k, mode in archived.items() if k.startswith(folder)}
    assert {"report.json", "SHA256SUMS"} <= set(kept), archived
    assert set(kept.values()) == {"COMPLIANCE"}, kept  # --retain 3y


def report_of(job: Job, directory: str) -> dict[str, Any]:
    return json.loads((job.workspace / directory / "report.json").read_text())


# --- Static checks --------------------------------------------------------------------------


def all_workflows() -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(WORKFLOWS.glob("*.yml"))}


def all_scripts() -> list[tuple[str, str]]:
    """Every run: script of the workflows, the action and the README's workflow."""
    scripts = [
        (f"action.yml {s.get('name')}", s["run"])
        for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"]
        if "run" in s
    ]
    for name, document in all_workflows().items():
        for job_name, job in document["jobs"].items():
            scripts += [(f"{name} {job_name}", s["run"]) for s in job["steps"] if "run" in s]
    return scripts


def test_expressions_are_evaluated_or_refused() -> None:
    contexts = {
        "inputs": Strict({"fail-on": "error", "environments": ""}),
        "vars": {"POLICYCHECK_ATTEST": "TRUE"},
        "needs": Strict(
            e=Strict(outputs={"matrix": '[{"name": "dev", "region": "eu-central-1"}]'})
        ),
        "matrix": Strict(environment={"name": "prod", "region": "eu-west-1"}),
    }
    assert evaluate("fromJSON(needs.e.outputs.matrix)[0].region", contexts) == "eu-central-1"
    assert evaluate("vars.POLICYCHECK_ATTEST == 'true'", contexts) is True  # case-insensitive
    assert evaluate("vars.MISSING != 'false'", contexts) is True
    assert (
        evaluate("format('policycheck-{0}', inputs.environments || 'all')", contexts)
        == "policycheck-all"
    )
    assert interpolate("reports/${{ matrix.environment.name }}", contexts) == "reports/prod"
    assert interpolate("${{ inputs.fail-on == 'error' }}", contexts) is True
    assert condition("inputs.fail-on != 'none'", contexts, "failure") is False  # success() &&
    assert condition("always() && vars.POLICYCHECK_ATTEST == 'true'", contexts, "failure")
    for unknown in (
        "inputs.fail_on",
        "matrix.env",
        "hashFiles('x')",
        "strategy.job-index",
        "a ~ b",
    ):
        with pytest.raises(HarnessError):
            evaluate(unknown, contexts)


def test_actions_pinned_by_commit_with_their_version() -> None:
    """Every third-party action, in every job (those holding id-token: write included), is
    pinned by a full commit SHA, the version beside it, the same commit everywhere."""
    files = [ACTION, *sorted(WORKFLOWS.glob("*.yml"))]
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in files:
        for line in path.read_text().splitlines():
            found = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)\s*(?:#\s*(\S+))?", line)
            if not found or found.group(1).startswith("./"):
                continue
            name, _, ref = found.group(1).partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", ref), (path.name, line)
            assert re.fullmatch(r"v\d+\.\d+\.\d+", found.group(2) or ""), (path.name, line)
            pins.setdefault(name, set()).add((ref, found.group(2)))
    assert {n for n, p in pins.items() if len(p) > 1} == set(), pins
    assert set(pins) == {n for n in STAND_INS}, "a stand-in for each, and only those"
    for line in ADOPTER_WORKFLOW.splitlines():
        if "actions/checkout@" in line:
            assert line.split("uses: ")[1] in {
                f"actions/checkout@{r} # {v}" for r, v in pins["actions/checkout"]
            }


def test_jobs_have_only_the_permissions_they_use() -> None:
    expected = {
        ("ci.yml", "test"): {"contents": "read"},
        ("ci.yml", "action"): {"contents": "read"},
        ("nightly-audit.yml", "environments"): {"contents": "read"},
        ("nightly-audit.yml", "audit"): {
            "contents": "read",
            "id-token": "write",
            "security-events": "write",
            "actions": "read",
        },
        ("nightly-audit.yml", "merge"): {"contents": "read", "actions": "read"},
        ("nightly-audit.yml", "archive"): {"contents": "read", "id-token": "write"},
        ("nightly-audit.yml", "attest"): {
            "contents": "read",
            "id-token": "write",
            "attestations": "write",
        },
        ("release-gate.yml", "environments"): {"contents": "read"},
        ("release-gate.yml", "gate"): {"contents": "read", "id-token": "write"},
    }
    found = {}
    for name, document in all_workflows().items():
        assert document["permissions"] in ({}, {"contents": "read"}), name
        for job_name, job in document["jobs"].items():
            found[(name, job_name)] = job["permissions"]
            steps = job["steps"]
            uses = [s.get("uses", "").split("@")[0] for s in steps]
            if job["permissions"].get("id-token") == "write":  # only to assume a role or attest
                assert {"aws-actions/configure-aws-credentials", "actions/attest"} & set(uses)
            for step in steps:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, (name, job_name)
    assert found == expected
    attest = all_workflows()["nightly-audit.yml"]["jobs"]["attest"]
    assert "vars.POLICYCHECK_ATTEST == 'true'" in attest["if"]
    readme = yaml.safe_load(ADOPTER_WORKFLOW)["jobs"]["audit"]
    assert readme["permissions"] == {"contents": "read", "id-token": "write"}
    assert readme["steps"][0]["with"]["persist-credentials"] is False


def test_full_history_wherever_drills_are_judged() -> None:
    """A job that audits (the action not install-only, or `policycheck run`) checks its
    repository out with fetch-depth 0: actions/checkout fetches one commit by default."""
    jobs = [(f"{n} {j}", job) for n, d in all_workflows().items() for j, job in d["jobs"].items()]
    jobs.append(("README", yaml.safe_load(ADOPTER_WORKFLOW)["jobs"]["audit"]))
    audits = 0
    for name, job in jobs:
        steps = job["steps"]
        audit = any(
            ("policycheck" in s.get("uses", "") or s.get("uses", "").startswith("./"))
            and str((s.get("with") or {}).get("install-only", "false")) != "true"
            for s in steps
        ) or any("policycheck run" in s.get("run", "") for s in steps)
        if audit:
            audits += 1
            [root_checkout] = [
                s
                for s in steps
                if s.get("uses", "").startswith("actions/checkout@")
                and "path" not in s.get("with", {})
            ]
            assert root_checkout["with"]["fetch-depth"] == 0, name
    assert audits == 3  # nightly audit, release gate, the README's


def test_python_packages_only_from_the_hash_pinned_lock() -> None:
    """No workflow or action installs a package by a bare name: the action's install step
    is the only pip, and it installs the lock with hashes, then its own checkout."""
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    assert all(s.get("shell") == "bash" for s in action["runs"]["steps"] if "run" in s)
    [install] = [s for s in action["runs"]["steps"] if s.get("id") == "install"]
    script = install["run"]
    assert "${{" not in script  # .ci/check_action_install.py runs it as it is
    assert 'lock="$GITHUB_ACTION_PATH/requirements/action.txt"' in script
    commands = re.findall(r"pip install((?:\\\n|[^\n])*)", script)
    assert len(commands) == 2, commands
    lock, source = (" ".join(c.replace("\\\n", " ").split()) for c in commands)
    assert lock.endswith('--require-hashes --only-binary :all: -r "$lock"'), lock
    assert source.endswith('--no-index --no-deps --no-build-isolation "$GITHUB_ACTION_PATH"'), (
        source
    )
    for where, run in all_scripts():
        if where.startswith("action.yml") and run == script:
            continue
        for forbidden in (
            "pip install",
            "pip3 install",
            "pipx",
            "uv pip",
            "uvx",
            "npm i",
            "curl",
            "wget",
        ):
            assert forbidden not in run, (where, forbidden)


def test_the_locks_are_checked_without_the_network(tmp_path: Path) -> None:
    """.ci/check_lock.py (make lint) passes on the locks, and catches a pin without hashes,
    a version pyproject.toml does not accept, a missing dependency, an unpinned one, a
    dev-only package in the action's lock and locks that disagree; a newer release on PyPI
    is none of those."""
    check = [sys.executable, str(REPO / ".ci" / "check_lock.py"), "--root", str(tmp_path)]
    requirements = tmp_path / "requirements"
    requirements.mkdir()
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    for name in ("action.in", "action.txt", "dev.txt"):
        shutil.copy(REPO / "requirements" / name, requirements)
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
    lock, dev = (requirements / "action.txt").read_text(), (requirements / "dev.txt").read_text()
    boto3_pin = re.search(r"^boto3==\S+ \\\n(?:    --hash=\S+(?: \\)?\n)+", lock, re.M)
    pydantic = re.search(r"^pydantic==(\S+) ", lock, re.M)
    tabulate = re.search(r"^tabulate==(\S+) ", dev, re.M)
    assert boto3_pin and pydantic and tabulate
    broken = {
        "has no sha256 hash": (lock.replace(boto3_pin.group(0), "boto3==1.40.0\n"), dev),
        "which it does not accept": (
            lock.replace(f"pydantic=={pydantic.group(1)} ", "pydantic==1.10.0 "),
            dev,
        ),
        "boto3>=1.34: not in action.txt": (lock.replace(boto3_pin.group(0), ""), dev),
        "not pinned with ==": (lock.replace("tabulate==", "tabulate>="), dev),
        "only a dev/demo extra": (
            lock + "moto==5.1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n",
            dev,
        ),
        "tabulate: action.txt pins": (lock, dev.replace(tabulate.group(0), "tabulate==0.9.0 ")),
        "moto[server]>=5.1: not in dev.txt": (lock, re.sub(r"^moto==", "mota==", dev, flags=re.M)),
    }
    for problem, (action_lock, dev_lock) in broken.items():
        (requirements / "action.txt").write_text(action_lock)
        (requirements / "dev.txt").write_text(dev_lock)
        result = subprocess.run(check, capture_output=True, text=True, check=False)
        assert result.returncode == 1 and problem in result.stderr, (problem, result.stderr)


def test_actionlint_is_clean() -> None:
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which(
        "actionlint"
    )
    assert actionlint, "actionlint (dev extra) is missing"
    result = subprocess.run(
        [actionlint, *map(str, sorted(WORKFLOWS.glob("*.yml")))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_uses_without_stand_in_fails_the_test(tmp_path: Path) -> None:
    gh = GitHub(tmp_path, repository=ADOPTER, repos={}, endpoint="http://127.0.0.1:9")
    workflow = """
on: workflow_dispatch
permissions: {}
jobs:
  j:
    permissions: {}
    steps:
      - uses: someone/something@0123456789012345678901234567890123456789
"""
    with pytest.raises(HarnessError, match="no stand-in for uses: someone/something"):
        gh.run(text=workflow)


# --- Runs -------------------------------------------------------------------------------------


@ADOPTER_RUNS
def test_adopter_gets_a_nightly_audit_from_the_readme_workflow(
    world: World, tmp_path: Path
) -> None:
    """A repository with only policy.yaml, controls/, drill evidence and the README's
    workflow: the action installs from its pinned checkout, assumes the role in the
    policy's region, audits prod and passes, with reports, summary and outputs."""
    world.fleet()
    gh = world.github(tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}})
    run = gh.run("policycheck.yml", text=adopter_workflow(world))
    job = run.job("audit")
    assert job.result == "success", job.log()
    action = job.step(POLICYCHECK)
    assert action.outputs["status"] == "pass"
    assert action.outputs["exit-code"] == "0"
    report = report_of(job, "reports")
    assert action.outputs["report"] == "reports/report.json"
    counts = report["summary"]["results"]
    assert {k: action.outputs[k] for k in ("pass", "fail", "error", "waived", "total")} == {
        k: str(counts[k]) for k in ("pass", "fail", "error", "waived", "total")
    }
    assert report["run"]["selected_environments"] == ["prod"]
    assert int(action.outputs["pass"]) > 0 and action.outputs["fail"] == "0"
    for name in (
        "report.md",
        "report.csv",
        "report.junit.xml",
        "report.sarif",
        "summary.md",
        "SHA256SUMS",
    ):
        assert (job.workspace / "reports" / name).is_file(), name
    assert job.summary.startswith("## policycheck: PASS")
    aws, archive_role = gh.called("aws-actions/configure-aws-credentials")
    assert (aws["role-to-assume"], aws["aws-region"]) == (role("prod"), "eu-central-1")
    # The evidence outlives the job: uploaded for the run page, archived with its own role.
    assert (run.artifacts / "policycheck-reports" / "report.json").is_file()
    assert archive_role["role-to-assume"].endswith(":role/policycheck-archive")
    assert_archived(world, gh, "prod", report_of(job, "reports"), "1-1")
    [checkout] = gh.called("actions/checkout")
    assert (checkout["fetch-depth"], checkout["persist-credentials"]) == ("0", "false")
    assert gh.called("actions/setup-python")[0]["python-version"] == "3.11"
    assert gh.called("github/codeql-action/upload-sarif") == []  # upload-sarif: false
    assert_installed_from_the_lock(gh, {tmp_path / "_actions" / POLICYCHECK / world.sha})


@ADOPTER_RUNS
def test_drill_evidence_needs_the_full_history(world: World, tmp_path: Path) -> None:
    """In dev the drills are judged: with fetch-depth 1 the checkout is shallow, deleted
    records cannot be seen, the drill results are errors and the job is red; with the
    README's fetch-depth 0 they pass."""
    world.fleet()
    gh = world.github(tmp_path, environments={"dev": {"POLICYCHECK_ROLE_ARN": role("dev")}})
    dev = {"environment: prod": "environment: dev", "environments: prod": "environments: dev"}
    passed = gh.run("policycheck.yml", text=adopter_workflow(world, **dev)).job("audit")
    assert passed.result == "success", passed.log()
    drills = [
        r
        for r in report_of(passed, "reports")["results"]
        if r["check_id"] == "dr-drill-evidence-fresh"
    ]
    assert len(drills) == 4 and {r["status"] for r in drills} == {"pass"}
    shallow = adopter_workflow(world, **dev, **{"fetch-depth: 0": "fetch-depth: 1"})
    job = gh.run("policycheck.yml", text=shallow).job("audit")
    assert job.result == "failure"
    assert job.step(POLICYCHECK).outputs["exit-code"] == "3"
    drills = [
        r
        for r in report_of(job, "reports")["results"]
        if r["check_id"] == "dr-drill-evidence-fresh"
    ]
    assert {r["status"] for r in drills} == {"error"}
    assert "shallow clone" in json.dumps(drills)


@NIGHTLY_RUNS
def test_ci_installs_the_action_and_runs_it(world: World, tmp_path: Path) -> None:
    gh = world.github(tmp_path, repository=POLICYCHECK)
    job = gh.run("ci.yml", jobs=["action"]).job("action")
    assert job.result == "success", job.log()
    assert '"name": "prod"' in job.log() and "sts:AssumeRoleWithWebIdentity" in job.log()
    assert_installed_from_the_lock(gh, {job.workspace})


@ADOPTER_RUNS
def test_release_gate_from_the_policy(world: World, tmp_path: Path) -> None:
    """The reusable gate, called by an adopter: its matrix comes from the policy, it runs
    the action checked out at the workflow's own commit, and passes a compliant prod."""
    world.fleet()
    call = yaml.safe_load(RELEASE_GATE_CALL)["jobs"]["compliance"]  # the README's
    assert call["uses"].startswith(f"{POLICYCHECK}/.github/workflows/release-gate.yml@")
    gate_permissions = all_workflows()["release-gate.yml"]["jobs"]["gate"]["permissions"]
    assert gate_permissions.items() <= call["permissions"].items()  # the caller's cap them
    gh = world.github(tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}})
    run = gh.run("release-gate.yml", inputs=call["with"], workflow_repository=POLICYCHECK)
    environments = run.job("environments")
    assert environments.result == "success", environments.log()
    assert [e["name"] for e in json.loads(environments.outputs["matrix"])] == ["prod"]
    gate = run.job("gate", environment="prod")
    assert gate.result == "success", gate.log()
    assert gate.step("gate").outputs["status"] == "pass"
    actions = [c for c in gh.called("actions/checkout") if c.get("repository") == POLICYCHECK]
    assert {(c["ref"], c["path"]) for c in actions} == {(world.sha, ".policycheck-action")}
    assert [c["aws-region"] for c in gh.called("aws-actions/configure-aws-credentials")] == [
        "eu-central-1"
    ]
    assert (run.artifacts / "release-gate-prod" / "report.json").is_file()
    assert_installed_from_the_lock(
        gh, {j.workspace / ".policycheck-action" for j in (environments, gate)}
    )
    unknown = gh.run(
        "release-gate.yml", inputs={"environments": "staging"}, workflow_repository=POLICYCHECK
    )
    assert unknown.job("environments").result == "failure"
    assert "['staging']: not in the policy" in unknown.job("environments").log()
    assert unknown.jobs["gate"] == []  # skipped


@NIGHTLY_RUNS
def test_nightly_merge_fails_when_an_environment_left_no_report(
    world: World, tmp_path: Path
) -> None:
    """prod has no role variable: its job fails before auditing, leaves no report, and the
    merge records prod as not assessed and exits 3: the night is red."""
    world.fleet()
    gh = world.github(
        tmp_path,
        repository=POLICYCHECK,
        environments={"dev": {"POLICYCHECK_ROLE_ARN": role("dev")}},
    )
    run = gh.run("nightly-audit.yml")
    assert run.job("audit", environment="dev").result == "success"
    prod = run.job("audit", environment="prod")
    assert prod.result == "failure" and "role-to-assume" in prod.log()
    assert not (run.artifacts / "report-prod").exists()
    merge = run.job("merge")
    assert merge.result == "failure"
    assert merge.step("Merge the environments into one control matrix").outcome == "failure"
    merged = report_of(merge, "merged")
    assert merged["summary"]["status"] == "not_assessed"
    assert "prod" in json.dumps(merged["run"]["gaps"])
    assert merge.outputs["merged"] == "true" and (run.artifacts / "merged-report").is_dir()
    assert run.jobs["attest"] == []  # POLICYCHECK_ATTEST unset
    assert run.conclusion == "failure"


@NIGHTLY_RUNS
def test_nightly_two_nights(world: World, tmp_path: Path) -> None:
    """Night 1: the matrix comes from the policy, each environment is audited in its region
    and uploads its report and SARIF, the merge passes with nothing to compare. Night 2 a
    bucket lost versioning in prod: the audit jobs still report, the drift step fails on
    the new failure, and the merged reports are attested."""
    world.fleet()
    roles = {e: {"POLICYCHECK_ROLE_ARN": role(e)} for e in ("dev", "prod")}
    gh = world.github(tmp_path, repository=POLICYCHECK, environments=roles)
    first = gh.run("nightly-audit.yml")
    assert first.conclusion == "success", "\n".join(
        j.log() for js in first.jobs.values() for j in js
    )
    listed = json.loads(first.job("environments").outputs["matrix"])
    assert [(e["name"], e["region"]) for e in listed] == [
        ("dev", "eu-central-1"),
        ("prod", "eu-central-1"),
    ]
    calls = gh.called("aws-actions/configure-aws-credentials")
    assert sorted((c["role-to-assume"], c["aws-region"]) for c in calls) == [
        ("arn:aws:iam::123456789012:role/policycheck-archive", ARCHIVE_REGION),  # archive job
        (role("dev"), "eu-central-1"),
        (role("prod"), "eu-central-1"),
    ]
    for environment in ("dev", "prod"):
        job = first.job("audit", environment=environment)
        assert job.step("audit").outputs["status"] == "pass"
        assert job.summary.startswith("## policycheck: PASS")
        assert (first.artifacts / f"report-{environment}" / "report.sarif").is_file()
    sarif = gh.called("github/codeql-action/upload-sarif")
    assert sorted(c["category"] for c in sarif) == ["policycheck-dev", "policycheck-prod"]
    merge = first.job("merge")
    assert report_of(merge, "merged")["run"]["selected_environments"] == ["dev", "prod"]
    assert "No previous night to compare with: judged on its own." in merge.summary
    assert first.jobs["attest"] == []
    [archived] = first.jobs["archive"]
    assert archived.result == "success", archived.log()
    assert_archived(world, gh, "merged", report_of(merge, "merged"), "1-1")
    assert_installed_from_the_lock(gh, {j.workspace for js in first.jobs.values() for j in js})

    world.fleet(PROD_DEVIATION)
    gh.vars["POLICYCHECK_ATTEST"] = "true"
    second = gh.run("nightly-audit.yml")
    prod = second.job("audit", environment="prod")
    assert prod.result == "success"  # fail-on none: the night judges drift
    assert (prod.step("audit").outputs["status"], prod.step("audit").outputs["fail"]) == (
        "fail",
        "1",
    )
    merge = second.job("merge")
    assert merge.result == "failure"
    assert (
        merge.step("Drift since last night (fails on new failures or errors)").outcome == "failure"
    )
    assert (merge.workspace / "previous" / "report.json").is_file()  # night 1's, through gh
    assert (
        "s3-versioning-enabled" in merge.summary and "nn-aiconnectors-audit-prod" in merge.summary
    )
    [archived] = second.jobs["archive"]  # a red night is evidence too
    assert archived.result == "success", archived.log()
    assert_archived(world, gh, "merged", report_of(merge, "merged"), "2-1")
    [attest] = second.jobs["attest"]
    assert attest.result == "success", attest.log()
    assert gh.called("actions/attest")[0]["subject-checksums"] == "merged/SHA256SUMS"
    assert second.conclusion == "failure"


@ADOPTER_RUNS
def test_failing_fleet_reports_then_fails(world: World, tmp_path: Path) -> None:
    """A failure in prod: the action writes the reports, the summary and the outputs, tries
    the SARIF upload (code scanning not available: a notice, not a failure), and its last
    step fails the job with exit 1; with fail-on none the same run is green."""
    world.fleet(PROD_DEVIATION)
    gh = world.github(
        tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}}, code_scanning=False
    )
    indent, upload = " " * 10, "upload-sarif: true\n"
    sarif = {
        "id-token: write}": "id-token: write, security-events: write}",
        f"{indent}environments: prod\n": f"{indent}environments: prod\n{indent}{upload}",
    }
    job = gh.run("policycheck.yml", text=adopter_workflow(world, **sarif)).job("audit")
    assert job.result == "failure"
    action = job.step(POLICYCHECK)
    assert (action.outputs["status"], action.outputs["exit-code"], action.outputs["fail"]) == (
        "fail",
        "1",
        "1",
    )
    assert (job.workspace / "reports" / "report.sarif").is_file()
    assert job.summary.startswith("## policycheck: FAIL") and "s3-versioning-enabled" in job.summary
    upload = job.step("sarif")
    assert (upload.outcome, upload.conclusion) == ("failure", "success")
    assert (
        "::notice title=policycheck::SARIF not uploaded"
        in job.step("Code scanning not available").log
    )
    gate = job.step("Pass or fail as fail-on says")
    assert gate.outcome == "failure" and "::error title=policycheck::a result failed" in gate.log
    order = [s.name for s in job.all_steps() if s.outcome != "skipped"]
    # The action's last step; after it only the workflow's `if: always()` steps, which
    # upload and archive the red night's reports too.
    assert len(order) - 1 - order.index("Pass or fail as fail-on says") == 3, order
    assert_archived(world, gh, "prod", report_of(job, "reports"), "1-1")
    assert [c["category"] for c in gh.called("github/codeql-action/upload-sarif")] == [
        "policycheck-prod"
    ]

    gh.code_scanning = True
    relaxed = {**sarif, "upload-sarif: true\n": "upload-sarif: true\n          fail-on: none\n"}
    job = gh.run("policycheck.yml", text=adopter_workflow(world, **relaxed)).job("audit")
    assert job.result == "success", job.log()
    assert job.step(POLICYCHECK).outputs["status"] == "fail"
    assert job.step("sarif").outcome == "success"
    assert job.step("Code scanning not available").outcome == "skipped"


@ADOPTER_RUNS
def test_release_gate_blocks_a_failing_prod(world: World, tmp_path: Path) -> None:
    world.fleet(PROD_DEVIATION)
    gh = world.github(tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}})
    run = gh.run(
        "release-gate.yml", inputs={"environments": '["prod"]'}, workflow_repository=POLICYCHECK
    )
    gate = run.job("gate", environment="prod")
    assert gate.result == "failure"
    assert gate.step("gate").outputs["exit-code"] == "1"
    assert (run.artifacts / "release-gate-prod" / "report.json").is_file()  # uploaded anyway


@NIGHTLY_RUNS
def test_a_broken_shell_line_fails(world: World, tmp_path: Path) -> None:
    """The runs above prove the scripts work because a broken one fails: an unclosed quote
    in the nightly's first job."""
    gh = world.github(tmp_path, repository=POLICYCHECK)
    workflow = (WORKFLOWS / "nightly-audit.yml").read_text()
    line = 'echo "matrix=$matrix" >> "$GITHUB_OUTPUT"'
    assert line in workflow
    fine = gh.run("nightly-audit.yml", jobs=["environments"]).job("environments")
    broken = gh.run(
        "nightly-audit.yml", text=workflow.replace(line, line[:-1]), jobs=["environments"]
    ).job("environments")
    assert fine.result == "success" and fine.outputs["matrix"].startswith("[{")
    assert broken.result == "failure"
    assert "unexpected EOF" in broken.step("The matrix, from the policy").log


#: The aws CLI, for the README's commands: the same IAM calls, with boto3, against moto.
AWS_CLI = """
import json, sys, boto3
from pathlib import Path

service, operation, *rest = sys.argv[1:]
options = dict(zip(rest[::2], rest[1::2]))
given = options.pop
iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def document(option):
    return Path(given(option).removeprefix("file://")).read_text()


if operation == "list-open-id-connect-providers":
    print(json.dumps(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]))
elif operation == "create-open-id-connect-provider":
    iam.create_open_id_connect_provider(
        Url=given("--url"), ClientIDList=given("--client-id-list").split()
    )
elif operation == "create-role":
    iam.create_role(
        RoleName=given("--role-name"),
        AssumeRolePolicyDocument=document("--assume-role-policy-document"),
    )
elif operation == "put-role-policy":
    iam.put_role_policy(
        RoleName=given("--role-name"),
        PolicyName=given("--policy-name"),
        PolicyDocument=document("--policy-document"),
    )
else:
    sys.exit(f"aws stand-in: no {operation}")
if service != "iam" or options:
    sys.exit(f"aws stand-in: {service} {options}")
"""


@NIGHTLY_RUNS
def test_readme_role_commands_run(world: World, tmp_path: Path) -> None:
    """The README's commands that create the role run as written, where policy.yaml is:
    policycheck writes the trust and permissions policies, and stand-ins for the aws and gh
    CLIs make the calls against moto (IAM) and record the variable."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "policycheck").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -P -m policycheck "$@"\n'
    )
    (tools / "aws").write_text(f"#!{sys.executable}\n{AWS_CLI}")
    (tools / "gh").write_text(f"""#!{sys.executable}
import json, sys
assert sys.argv[1:3] == ["variable", "set"], sys.argv
name, rest = sys.argv[3], sys.argv[4:]
with open({str(tmp_path / "variables.json")!r}, "a") as out:
    out.write(json.dumps({{"name": name, **dict(zip(rest[::2], rest[1::2]))}}) + "\\n")
""")
    for tool in tools.iterdir():
        tool.chmod(0o755)
    directory = tmp_path / "adopter"
    subprocess.run(["git", "clone", "--quiet", str(world.adopter), str(directory)], check=True)
    env = {
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": world.moto.url,
        "HOME": str(tmp_path),
    }
    for commands in (ROLE_COMMANDS, VARIABLE_COMMAND):
        result = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", commands],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    trust = json.loads((directory / "trust.json").read_text())
    [statement] = trust["Statement"]
    assert statement["Principal"]["Federated"] == (
        "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    )
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:OWNER/REPO:environment:prod",
    }
    readonly = json.loads((directory / "readonly.json").read_text())
    actions = {
        a
        for s in readonly["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "s3:GetBucketVersioning" in actions and not [
        a for a in actions if re.search(r":(Put|Delete|Create)", a)
    ]
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=world.moto.url)
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert any("token.actions.githubusercontent.com" in p["Arn"] for p in providers)
    created = iam.get_role(RoleName="policycheck-readonly-prod")["Role"]
    assert created["AssumeRolePolicyDocument"] == trust
    attached = iam.get_role_policy(
        RoleName="policycheck-readonly-prod", PolicyName="policycheck-readonly"
    )
    assert attached["PolicyDocument"] == readonly
    [variable] = [
        json.loads(line) for line in (tmp_path / "variables.json").read_text().splitlines()
    ]
    assert variable == {
        "name": "POLICYCHECK_ROLE_ARN",
        "--env": "prod",
        "--body": "arn:aws:iam::111111111111:role/policycheck-readonly-prod",
    }
    # ... the variable the workflows read, in the environment they run in.
    for workflow in (ADOPTER_WORKFLOW, *(p.read_text() for p in WORKFLOWS.glob("*.yml"))):
        if "configure-aws-credentials" in workflow or "role-to-assume" in workflow:
            assert "${{ vars.POLICYCHECK_ROLE_ARN }}" in workflow


@NIGHTLY_RUNS
def test_first_night_with_a_failure_is_red(world: World, tmp_path: Path) -> None:
    """Without a previous night to compare with, a night with a failure is judged on its
    own: red, so that it never becomes the baseline unnoticed."""
    world.fleet(PROD_DEVIATION)
    roles = {e: {"POLICYCHECK_ROLE_ARN": role(e)} for e in ("dev", "prod")}
    gh = world.github(tmp_path, repository=POLICYCHECK, environments=roles)
    first = gh.run("nightly-audit.yml")
    merge = first.job("merge")
    assert merge.result == "failure"
    drift = merge.step("Drift since last night (fails on new failures or errors)")
    assert drift.outcome == "failure"
    assert first.conclusion == "failure"


# --- Before apply: the plan gate ------------------------------------------------------------

_FAKE_TERRAFORM = """#!/bin/sh
# terraform of the test runner: plan writes tfplan, show -json prints the prepared plan.
echo "terraform $*" >> @LOG@
case "$1" in
  init) ;;
  plan) echo binary > tfplan ;;
  show) [ -f tfplan ] && cat @PLAN@ ;;
  apply) [ -f tfplan ] || exit 1 ;;
  *) exit 1 ;;
esac
"""


def _infra_repository(world: World, tmp_path: Path) -> Path:
    """A platform repository: policy.yaml, controls/, its layout and a Terraform module."""
    repository = tmp_path / "infra"
    shutil.copytree(world.adopter, repository, ignore=shutil.ignore_patterns(".git"))
    (repository / "infra" / "main" / "shared").mkdir(parents=True, exist_ok=True)
    (repository / "infra" / "main" / "shared" / "main.tf").write_text('module "shared" {}\n')
    return _repository(repository, "platform")


def _terraform(gh: GitHub, plan: dict[str, Any]) -> Path:
    """A terraform on the runner's PATH showing ``plan``; its log of commands."""
    log, planned = gh.root / "terraform.log", gh.root / "plan.json"
    planned.write_text(json.dumps(plan))
    tool = gh.tools / "terraform"
    tool.write_text(_FAKE_TERRAFORM.replace("@LOG@", str(log)).replace("@PLAN@", str(planned)))
    tool.chmod(0o755)
    log.touch()
    return log


@ADOPTER_RUNS
@pytest.mark.parametrize("breaks", [False, True])
def test_the_readme_plan_gate_runs_before_apply(world: World, tmp_path: Path, breaks: bool) -> None:
    """The README's infra-apply job: terraform plan, show -json, the action judges the plan
    (no AWS call of its own), and apply runs only when the plan keeps every control; a
    plan that turns PITR off stops before apply, with the reports and the summary."""
    plan = platform_plan("prod")
    if breaks:
        plan = deviated(plan, "dynamodb-pitr-enabled", "mcp-oauth-storage-teams-prod", env="prod")
    gh = world.github(
        tmp_path,
        repository="acme/infra",
        repos={"acme/infra": _infra_repository(world, tmp_path)},
        environments={"prod": {"TERRAFORM_ROLE_ARN": role("prod")}},
    )
    log = _terraform(gh, plan)
    workflow = BEFORE_APPLY_WORKFLOW.replace("COMMIT_SHA", world.sha)
    job = gh.run("infra-apply.yml", text=workflow).job("apply")
    gate = job.step(POLICYCHECK)
    commands = log.read_text().splitlines()
    assert commands[:3] == [
        "terraform init -input=false",
        "terraform plan -input=false -out tfplan",
        "terraform show -json tfplan",
    ]
    report = report_of(job, "reports")
    assert report["run"]["sources"][0]["path"] == "plan.json"
    if breaks:
        assert job.result == "failure"
        assert (gate.outputs["exit-code"], gate.outputs["status"]) == ("1", "fail")
        assert "terraform apply -input=false tfplan" not in commands
        assert "**PLAN** this plan breaks `dynamodb-pitr-enabled`" in job.summary
    else:
        assert job.result == "success", job.log()
        assert (gate.outputs["exit-code"], gate.outputs["status"]) == ("0", "pass")
        assert commands[-1] == "terraform apply -input=false tfplan"
        # images, running tasks and bucket regions (read live), the state's
        # writers and the apply role's trust; the repository checks are
        # judged on the checked-out repository
        assert int(gate.outputs["not-assessed"]) == 13
        assert job.summary.startswith("## policycheck: PASS on the plan")


@ADOPTER_RUNS
def test_release_gate_judges_a_plan_artifact(world: World, tmp_path: Path) -> None:
    """release-gate.yml with plan-artifact: the plans the caller uploaded are judged
    instead of the live account (no role assumed); a plan that breaks a control fails the
    release."""
    gh = world.github(tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}})
    for name, plan, expected in (
        ("compliant", platform_plan("prod"), "success"),
        (
            "broken",
            deviated(
                platform_plan("prod"),
                "s3-versioning-enabled",
                "nn-aiconnectors-audit-prod",
                env="prod",
            ),
            "failure",
        ),
    ):
        plans = tmp_path / name
        plans.mkdir()
        (plans / "shared.json").write_text(json.dumps(plan))
        run = gh.run(
            "release-gate.yml",
            inputs={"environments": "prod", "plan-artifact": "tfplan-prod"},
            workflow_repository=POLICYCHECK,
            artifacts={"tfplan-prod": plans},
        )
        gate = run.job("gate", environment="prod")
        assert gate.result == expected, gate.log()
        assert gate.step("gate").outputs["exit-code"] == ("0" if expected == "success" else "1")
        report = json.loads((run.artifacts / "release-gate-prod" / "report.json").read_text())
        assert [s["path"] for s in report["run"]["sources"]] == [".policycheck-plans/shared.json"]
    assert gh.called("aws-actions/configure-aws-credentials") == []
