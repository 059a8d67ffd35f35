"""Judging a Terraform plan: ``terraform show -json`` output read as one more source of
facts, in the shapes the collectors produce, so that the checks run unchanged.

- ``planfile``: reading and validating plan files (formats 0.1 to 1.x);
- ``state``: the resources a plan has after the apply and had before it, unknown and
  sensitive values kept apart, references resolved through the configuration;
- ``common``: what the readers share (one instance of a kind, policy documents);
- ``s3``, ``dynamodb``, ``ecr``, ``ecs``, ``ssm``, ``firehose``, ``iam``: one module per
  service (plugin modules, found by the registry), each declaring how its resource type
  appears in a plan (``PlannedType``) and, for each of its facts, the reader that reads
  it from a plan (``PlanReader``) or why a plan cannot show it (``PlanGap``); the
  registry's ``plan`` says which checks a plan can judge.

``policycheck.engine.plan`` judges the policy on the plans with the same evaluation code
as ``run``.
"""
