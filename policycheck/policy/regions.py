"""Region names checked against the regions the installed botocore knows. An unknown name
is usually a typo (eu-centrl-1), but may be a region newer than botocore: a warning
naming the closest known region, never a refusal."""

import difflib
from functools import cache

from policycheck.policy.load import Policy


@cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's endpoint data (read without a session:
    the AWS profile, which may not exist, plays no part)."""
    from botocore.loaders import create_loader

    endpoints = create_loader().load_data("endpoints")
    return frozenset(region for p in endpoints["partitions"] for region in p["regions"])


def region_warnings(policy: Policy) -> list[str]:
    """One warning per region of the policy that botocore does not know."""
    import botocore

    warnings = []
    for name, environment in policy.environments.items():
        key = "regions" if environment.regions else "region"
        for index, region in enumerate(environment.region_names):
            if region in known_regions():
                continue
            closest = difflib.get_close_matches(region, sorted(known_regions()), n=1)
            where = f"environments.{name}.{key}" + (f"[{index}]" if environment.regions else "")
            warnings.append(
                f"{policy.path}: {where}: {region!r} is not a region botocore "
                f"{botocore.__version__} knows"
                + (f"; did you mean {closest[0]!r}?" if closest else "")
                + " (a region newer than botocore still works)"
            )
    return warnings
