"""policycheck: verify a backup and disaster-recovery policy against live AWS resources.

The library's front door. Every name below is imported when first used, so that importing
one module of the package does not load the whole engine::

    from pathlib import Path
    import policycheck

    policy = policycheck.load_policy(Path("policy.yaml"))
    catalog = policycheck.load_catalog(Path("controls"))
    report = policycheck.run_audit(policy, catalog, policycheck.select(policy, catalog))
    policycheck.write_reports(report, Path("reports"), ["json", "markdown"])

The packages, one stage each: ``plugin`` (how checks, facts and resource types are
declared), ``policy``, ``iam``, ``sources`` (AWS, Terraform plans, the platform
repository), ``engine``, ``report``, ``render``, ``publish``, ``cli``.
"""

from typing import TYPE_CHECKING

from policycheck.frontdoor import imported_when_used
from policycheck.version import __version__

if TYPE_CHECKING:
    from policycheck.engine.plan import judge_plan
    from policycheck.engine.planning import select
    from policycheck.engine.runner import run_audit
    from policycheck.policy.controls import load_catalog
    from policycheck.policy.load import load_policy
    from policycheck.publish import write_reports
    from policycheck.report.merge import merge_reports
    from policycheck.report.reader import read_report

#: Where each public name lives.
_HOMES = {
    "load_policy": "policycheck.policy.load",
    "load_catalog": "policycheck.policy.controls",
    "select": "policycheck.engine.planning",
    "run_audit": "policycheck.engine.runner",
    "judge_plan": "policycheck.engine.plan",
    "read_report": "policycheck.report.reader",
    "write_reports": "policycheck.publish",
    "merge_reports": "policycheck.report.merge",
}

__all__ = [
    "__version__",
    "judge_plan",
    "load_catalog",
    "load_policy",
    "merge_reports",
    "read_report",
    "run_audit",
    "select",
    "write_reports",
]

__getattr__ = imported_when_used(__name__, _HOMES)
