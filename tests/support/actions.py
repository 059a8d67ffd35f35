"""A GitHub Actions runner for the tests: runs the jobs of a workflow in the order of their
``needs``, a job per matrix entry, and each step in order: every ``run:`` script, the
workflows' and the composite action's, in bash as GitHub starts it (``bash -e``, or ``bash
--noprofile --norc -eo pipefail`` for ``shell: bash``), with the files and variables GitHub
gives a step (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY,
GITHUB_WORKSPACE, RUNNER_TEMP, GITHUB_ACTION_PATH, ...), and its ``${{ }}`` expressions
evaluated by a small evaluator that refuses any context, property of a strict context,
function or construct it does not know. ``uses:`` steps that need GitHub run as
stand-ins (see tests/e2e/test_workflows.py for what each does and what these tests cannot
prove)."""

import fnmatch
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policycheck.demo.seeding import GIT_IDENTITY
from support.harness import REPO

WORKFLOWS = REPO / ".github" / "workflows"


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


def git(directory: Path, *args: str) -> str:
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
        return git(self.repos[repository], "rev-parse", "HEAD")

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
            git(directory, "checkout", "--quiet", "--detach", ref)
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
        git(destination, "checkout", "--quiet", "--detach", ref)
    if given.get("persist-credentials", "true") != "false":  # the token, in the work tree
        git(
            destination,
            "config",
            "http.https://github.com/.extraheader",
            "AUTHORIZATION: basic ***",
        )
    return True, {"commit": git(destination, "rev-parse", "HEAD")}, f"checked out {repository}"


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
