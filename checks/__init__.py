"""Check plugins, one module per service. Importing this package registers them.

Installed as ``policycheck.checks``. Each check is a pure function of collected facts and
its parameters; see :func:`policycheck.registry.check`.
"""

from policycheck.checks import drills, dynamodb, ecr, ecs, firehose, iam, s3, ssm

__all__ = ["drills", "dynamodb", "ecr", "ecs", "firehose", "iam", "s3", "ssm"]
