"""`policycheck demo`'s work: a simulated account (moto on loopback) seeded from the
policy, mostly compliant with a few deliberate violations, then audited like a real one."""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from policycheck.demo.seeding import Deviation, demo_session, seed
from policycheck.demo.server import MotoNotInstalled, moto_server, reset
from policycheck.engine.fetching import ProgressCallback
from policycheck.engine.planning import select
from policycheck.engine.runner import RunOptions, run_audit
from policycheck.errors import InputError
from policycheck.paths import CONTROLS_DIRNAME, POLICY_FILENAME, controls_dir_for
from policycheck.policy.controls import Catalog
from policycheck.policy.load import Policy
from policycheck.report.model import Report

#: What the demo breaks on purpose, so that its report shows failures worth reading.
DEMO_DEVIATIONS = (
    Deviation("dev", "s3-versioning-enabled", "aiconnectors-terraform-state-dev"),
    Deviation("prod", "s3-public-access-blocked", "nn-aiconnectors-audit-prod"),
    Deviation("prod", "s3-lifecycle-archive-and-expire", "nn-aiconnectors-audit-prod"),
    Deviation("dev", "dynamodb-pitr-enabled", "mcp-oauth-storage-databricks-dev"),
    Deviation("prod", "ecr-lifecycle-retains-tagged", "mcp-teams"),
    Deviation("prod", "ssm-parameter-secure", "/aiconnectors/prod/mcps/databricks/client-secret"),
    Deviation("dev", "dr-drill-evidence-fresh", "secret-rotation"),
    # One platform repository serves both environments: its deviation fails in each.
    Deviation("dev", "terraform-backend-encrypted-and-locked", "infra"),
)


def for_demo(policy: Policy, records_dir: Path) -> Policy:
    """The policy as the demo runs it: every environment in one simulated account (no
    account ids or roles), drill records and the platform repository in a scratch git
    repository."""
    environments = {
        name: env.model_copy(update={"account_id": None, "role_arn": None})
        for name, env in policy.environments.items()
    }
    document = policy.document.model_copy(
        update={"environments": environments, "evidence_dir": str(records_dir)}
    )
    return replace(policy, document=document, records_root=records_dir.parent)


@contextmanager
def demo_account(
    policy: Policy, compliant: bool = False
) -> Iterator[tuple[Policy, str, tuple[Deviation, ...]]]:
    """A simulated account (moto on loopback), emptied, seeded from the policy and broken on
    purpose (unless ``compliant``): the policy as the demo runs it, the endpoint, and the
    deviations applied."""
    bound = {binding.check.id for binding in policy.bindings}
    deviations = tuple(
        d
        for d in DEMO_DEVIATIONS
        if not compliant and d.environment in policy.environments and d.check_id in bound
    )
    try:
        with (
            tempfile.TemporaryDirectory(prefix="policycheck-demo-") as scratch,
            moto_server() as endpoint_url,
        ):
            reset(endpoint_url)  # moto's state is per process: start from an empty account
            demo_policy = for_demo(policy, Path(scratch) / "dr-test-evidence")
            seed(demo_policy, endpoint_url, deviations=deviations)
            yield demo_policy, endpoint_url, deviations
    except MotoNotInstalled as exc:
        raise InputError(str(exc)) from None


def write_workspace(policy: Policy, demo_policy: Policy) -> Path:
    """Beside the demo's drill records, the policy as the demo runs it (every environment
    in the simulated account: no account ids or roles) and its controls/, so that every
    command runs there as written; the directory."""
    directory = demo_policy.records_dir.parent
    document = yaml.safe_load(policy.path.read_text(encoding="utf-8"))
    for environment in document["environments"].values():
        for key in ("account_id", "role_arn"):
            environment.pop(key, None)
    document["evidence_dir"] = demo_policy.records_dir.name
    (directory / POLICY_FILENAME).write_text(yaml.safe_dump(document, sort_keys=False))
    shutil.copytree(controls_dir_for(policy.path), directory / CONTROLS_DIRNAME)
    return directory


def audit_demo(demo_policy: Policy, catalog: Catalog, endpoint_url: str, **options: Any) -> Report:
    """Audit the simulated account like a real one (options: see RunOptions); the report
    says it is simulated (run.simulated), so that no history counts it as live evidence."""
    run_options = RunOptions(
        endpoint_url=endpoint_url, session_factory=demo_session, simulated=True, **options
    )
    return run_audit(demo_policy, catalog, select(demo_policy, catalog), run_options)


def run_demo(
    policy: Policy,
    catalog: Catalog,
    *,
    max_workers: int = 16,
    progress: ProgressCallback | None = None,
    deadline_seconds: float | None = None,
    compliant: bool = False,
) -> Report:
    """Seed a simulated account from the policy, break it on purpose (unless
    ``compliant``), audit it."""
    with demo_account(policy, compliant) as (demo_policy, endpoint_url, _):
        report = audit_demo(
            demo_policy,
            catalog,
            endpoint_url,
            max_workers=max_workers,
            progress=progress,
            deadline_seconds=deadline_seconds,
        )
    return report
