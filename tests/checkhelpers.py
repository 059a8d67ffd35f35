"""Call a registered check directly with plain facts, as the runner would."""

from typing import Any

from policycheck.registry import NOW, RESOURCE, Verdict, all_checks

TODAY = "2026-11-24T06:00:00+00:00"


def judge(
    check_id: str,
    facts: dict[str, Any],
    resource: str = "bucket",
    context: dict[str, Any] | None = None,
    now: str = TODAY,
    **params: Any,
) -> Verdict:
    spec = all_checks()[check_id]
    full = {
        RESOURCE: {
            "name": resource,
            "arn": f"arn:aws:s3:::{resource}",
            "region": "eu-central-1",
            "account_id": "123456789012",
            "parent": "",
            "environment": "dev",
            "variables": {"env": "dev", "region": "eu-central-1"},
            **(context or {}),
        },
        NOW: now,
        **facts,
    }
    return spec.evaluate(full, spec.params_model.model_validate(params))
