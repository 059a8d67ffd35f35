"""Call a registered check directly with plain facts, as the runner would."""

from typing import Any

from policycheck.registry import RESOURCE, Verdict, all_checks


def judge(check_id: str, facts: dict[str, Any], resource: str = "bucket", **params: Any) -> Verdict:
    spec = all_checks()[check_id]
    full = {RESOURCE: {"name": resource, "arn": f"arn:aws:s3:::{resource}"}, **facts}
    return spec.evaluate(full, spec.params_model.model_validate(params))
