"""Collectors: the only code that reads the audited systems (AWS, and the evidence
repository for DR drills). Importing this package registers every fact."""

from policycheck.collectors import drills, dynamodb, ecr, ecs, s3, ssm

__all__ = ["drills", "dynamodb", "ecr", "ecs", "s3", "ssm"]
