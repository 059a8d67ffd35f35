"""Check plugins, one module per AWS service. Importing this package registers them.

Installed as ``policycheck.checks``. Each check is a pure function of collected facts and
its parameters; see :func:`policycheck.registry.check`.
"""

from policycheck.checks import dynamodb, ecr, s3

__all__ = ["dynamodb", "ecr", "s3"]
