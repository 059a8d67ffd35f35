"""Checks of the platform repository (the audited commit): the Terraform backend of every
module, and that the recovery plan (§4) can be executed as written."""

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from policycheck.plugin.check import RESOURCE, CheckParams, Facts, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples
from policycheck.policy.templates import expand, name_template
from policycheck.sources.repository.backends import UNRESOLVED
from policycheck.sources.repository.checkout import REPOSITORY

CANNOT_RESOLVE = "cannot be resolved without running terragrunt"


class Unresolvable(Exception):
    """A judged setting whose value only terragrunt can tell: an error, never a pass."""


class BackendParams(CheckParams):
    bucket: str = Field(
        "aiconnectors-terraform-state-{env}", description="The state bucket every module uses."
    )
    lock_table: str = Field(
        "aiconnectors-terraform-lock-{env}", description="The DynamoDB lock table."
    )
    allow_lockfile: bool = Field(
        False, description="Accept Terraform's S3-native locking (use_lockfile = true) instead."
    )
    environment_variables: dict[str, str] = Field(
        default_factory=lambda: {"TG_ENV": "{env}"},
        description="What get_env(NAME) reads when the environment is applied (templates).",
    )

    _names = field_validator("bucket", "lock_table")(name_template)


def _resolved(value: Any, variables: Mapping[str, str]) -> Any:
    """A setting's value for the environment; Unresolvable when only terragrunt can tell."""
    if isinstance(value, dict) and UNRESOLVED in value:
        raise Unresolvable(value[UNRESOLVED])
    if not (isinstance(value, dict) and "template" in value):
        return value
    text = ""
    for part in value["template"]:
        if isinstance(part, str):
            text += part
        elif part["get_env"] in variables:
            text += variables[part["get_env"]]
        elif part["default"] is not None:
            text += part["default"]
        else:
            raise Unresolvable(f'get_env("{part["get_env"]}") is not set for this environment')
    return text


def _backend_problems(
    module: dict[str, Any], expected: dict[str, Any], variables: Mapping[str, str]
) -> Iterator[str]:
    if UNRESOLVED in module:
        raise Unresolvable(module[UNRESOLVED])
    if module["backend"] != "s3":
        yield f"uses the {module['backend']} backend"
        return
    settings = {key: _resolved(value, variables) for key, value in module["settings"].items()}
    if settings.get("encrypt") not in (True, "true"):
        yield f"encrypt = {settings.get('encrypt')!r}"
    for key in ("bucket", "region"):
        if settings.get(key) != expected[key]:
            yield f"{key} = {settings.get(key)!r}"
    lockfile = expected["allow_lockfile"] and settings.get("use_lockfile") in (True, "true")
    if settings.get("dynamodb_table") != expected["lock_table"] and not lockfile:
        yield f"locks with dynamodb_table = {settings.get('dynamodb_table')!r}"


_BACKEND = {"tree": "{name}", "environment": "{env}"}
_COMPLIANT_BACKEND = {
    "bucket": "{params.bucket}",
    "region": "{region}",
    "encrypt": True,
    "dynamodb_table": "{params.lock_table}",
}


@check(
    id="terraform-backend-encrypted-and-locked",
    passes="every module that runs apply under the tree uses the s3 backend with encrypt = "
    "true, the policy's state bucket, the environment's region and the lock table (or "
    "use_lockfile where allowed)",
    examples=Examples(
        compliant=(Call(REPOSITORY, "write_backend", {**_BACKEND, "config": _COMPLIANT_BACKEND}),),
        deviation=Deviation(
            "the root remote_state does not encrypt the state",
            (
                Call(
                    REPOSITORY,
                    "write_backend",
                    {**_BACKEND, "config": {**_COMPLIANT_BACKEND, "encrypt": False}},
                ),
            ),
        ),
    ),
    title="Terraform backend encrypts the state and locks it",
    resource_type="terraform_tree",
    severity="high",
    facts=("terraform_tree.backends",),
    remediation=(
        'In {name}, set remote_state (root.hcl) or every backend "s3" block to encrypt = '
        "true, the state bucket, the region and dynamodb_table = the lock table; include "
        "the root configuration in every module"
    ),
    params=BackendParams,
)
def backend_encrypted_and_locked(facts: Facts, params: BackendParams) -> Verdict:
    """Every module under the tree that runs apply (each terragrunt.hcl, and each
    directory of .tf files with a backend block) has an s3 backend with ``encrypt =
    true``, ``bucket`` = the state bucket, ``region`` = the environment's region and
    ``dynamodb_table`` = the lock table (or ``use_lockfile = true`` if
    ``allow_lockfile``). A local backend fails; a value only terragrunt can compute is an
    error ("cannot be resolved without running terragrunt")."""
    resource = facts[RESOURCE]
    names = resource["variables"]
    expected = {
        "bucket": expand(params.bucket, names),
        "lock_table": expand(params.lock_table, names),
        "region": resource["region"],
        "allow_lockfile": params.allow_lockfile,
    }
    variables = {key: expand(value, names) for key, value in params.environment_variables.items()}
    found = facts["terraform_tree.backends"]
    modules = found["modules"]
    # Problems by where they are written: a root every module includes is named once.
    grouped: dict[tuple[str, str], list[str]] = {}
    for module in modules:
        try:
            broken = list(_backend_problems(module, expected, variables))
        except Unresolvable as exc:
            raise Unresolvable(f"{module['module']}: {exc}: {CANNOT_RESOLVE}") from None
        if broken:
            source = module["declared_in"] or module["module"]
            grouped.setdefault((source, ", ".join(broken)), []).append(module["module"])
    problems = [
        f"{source}{_used_by(source, users)}: {broken}"
        for (source, broken), users in grouped.items()
    ]
    if not modules:
        problems.append(f"no module under {resource['name']} runs apply")
    lock = "dynamodb_table = " + expected["lock_table"]
    if params.allow_lockfile:
        lock += " or use_lockfile = true"
    expected_text = (
        f"every module with encrypt = true, bucket = {expected['bucket']}, "
        f"region = {expected['region']}, {lock}"
    )
    text = (
        f"{len(modules)} module(s) on commit {found['commit'][:12]} encrypt and lock their state"
        if not problems
        else "; ".join(problems)
    )
    observed = {"commit": found["commit"], "modules": len(modules), "problems": problems}
    return judge(not problems, text, expected_text, expected=expected, observed=observed)


def _used_by(source: str, modules: list[str]) -> str:
    """Which modules a backend configuration serves, when it is not one module's own."""
    if modules == [source] or (len(modules) == 1 and source.startswith(f"{modules[0]}/")):
        return ""
    return f" (used by {len(modules)} module(s): {', '.join(modules)})"


class PathParams(CheckParams):
    kind: Literal["file", "directory"] = Field(description="What the procedure runs there.")
    procedure: str = Field(
        min_length=1, description="The sentence of the recovery plan that names the path."
    )


@check(
    id="recovery-path-present",
    passes="the file or directory the recovery plan names is on the audited commit",
    examples=Examples(
        compliant=(Call(REPOSITORY, "add_path", {"path": "{name}", "kind": "{params.kind}"}),),
        deviation=Deviation("the path is not in the repository"),
    ),
    title="A path the recovery plan names is in the repository",
    resource_type="repository_path",
    severity="high",
    facts=("repository_path.entry",),
    remediation="Restore {name} in the platform repository, or correct the recovery plan (§4)",
    params=PathParams,
)
def recovery_path_present(facts: Facts, params: PathParams) -> Verdict:
    """The path is a ``kind`` (file or directory) on the audited commit; a missing one
    fails naming the sentence of the recovery plan it breaks."""
    entry = facts["repository_path.entry"]
    where = f"on commit {entry['commit'][:12]}"
    if entry["kind"] is None:
        text = f"{entry['path']} is not {where}, so this step fails: {params.procedure}"
    else:
        text = f"{entry['path']} is a {entry['kind']} {where}"
    return judge(
        entry["kind"] == params.kind,
        text,
        f"a {params.kind}",
        expected={"kind": params.kind},
        observed=entry,
    )


class WorkflowParams(CheckParams):
    procedure: str = Field(
        min_length=1, description="The sentence of the recovery plan that runs the workflow."
    )


_LONG_LIVED = ("secrets.AWS_ACCESS_KEY_ID", "secrets.AWS_SECRET_ACCESS_KEY")
_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _grants_id_token(permissions: Any) -> bool:
    if permissions == "write-all":
        return True
    return isinstance(permissions, dict) and permissions.get("id-token") == "write"


def _workflow_problems(document: Any) -> Iterator[str]:
    if not isinstance(document, dict) or not isinstance(document.get("jobs"), dict):
        yield "is not a workflow (no jobs)"
        return
    triggers = document.get("on")
    if not (
        triggers == "workflow_dispatch"
        or (isinstance(triggers, list | dict) and "workflow_dispatch" in triggers)
    ):
        yield "cannot be started by hand (no workflow_dispatch)"
    oidc_jobs = [
        job
        for job in document["jobs"].values()
        if isinstance(job, dict)
        for step in job.get("steps") or []
        if isinstance(step, dict)
        and str(step.get("uses", "")).startswith(_CREDENTIALS_ACTION)
        and isinstance(step.get("with"), dict)
        and step["with"].get("role-to-assume")
    ]
    if not oidc_jobs:
        yield f"assumes no role ({_CREDENTIALS_ACTION} with role-to-assume)"
    elif not all(
        _grants_id_token(job.get("permissions", document.get("permissions"))) for job in oidc_jobs
    ):
        yield "does not grant id-token: write to the job that assumes the role"
    if any(marker in text for text in _strings(document) for marker in _LONG_LIVED) or any(
        "aws-access-key-id" in text for text in _strings(document)
    ):
        yield "uses long-lived AWS keys (AWS_ACCESS_KEY_ID secret)"


@check(
    id="recovery-workflow-runnable",
    passes="the workflow is on the audited commit, parses, has workflow_dispatch, and "
    "assumes a role with OIDC (id-token: write, role-to-assume) without long-lived keys",
    examples=Examples(
        compliant=(Call(REPOSITORY, "add_workflow", {"name": "{name}", "oidc": True}),),
        deviation=Deviation(
            "the workflow authenticates with an AWS_ACCESS_KEY_ID secret",
            (Call(REPOSITORY, "add_workflow", {"name": "{name}", "oidc": False}),),
        ),
    ),
    title="A workflow the recovery plan runs can be started by hand and uses OIDC",
    resource_type="github_workflow",
    severity="high",
    facts=("github_workflow.definition",),
    remediation=(
        "Commit .github/workflows/{name} with on: workflow_dispatch, permissions id-token: "
        "write and aws-actions/configure-aws-credentials role-to-assume (no access keys)"
    ),
    params=WorkflowParams,
)
def recovery_workflow_runnable(facts: Facts, params: WorkflowParams) -> Verdict:
    """The workflow file is on the audited commit and parses as YAML; it has
    ``workflow_dispatch`` (the plan "re-runs" it); every job that assumes an AWS role does
    so with OIDC (``id-token: write``, ``role-to-assume``); no AWS access key secret is
    used. A missing workflow fails naming the sentence of §4 it breaks."""
    found = facts["github_workflow.definition"]
    where = f"{found['path']} on commit {found['commit'][:12]}"
    if not found["exists"]:
        problems = [f"is missing, so this step fails: {params.procedure}"]
    elif "parse_error" in found:
        problems = [f"does not parse: {found['parse_error']}"]
    else:
        problems = list(_workflow_problems(found["document"]))
    text = f"{where}: " + ("; ".join(problems) if problems else "runnable by hand with OIDC")
    observed = {key: value for key, value in found.items() if key != "document"}
    return judge(
        not problems,
        text,
        "workflow_dispatch and OIDC (id-token: write, role-to-assume), no access keys",
        expected={"workflow_dispatch": True, "oidc": True, "long_lived_keys": False},
        observed={**observed, "problems": problems},
    )
