"""Collectors: the only code that calls AWS. Importing this package registers every fact."""

from policycheck.collectors import dynamodb, ecr, s3

__all__ = ["dynamodb", "ecr", "s3"]
