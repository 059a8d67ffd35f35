"""Judging a Terraform plan: ``terraform show -json`` output read as one more source of
facts, in the shapes the collectors produce, so that the checks run unchanged.

- ``planfile``: reading and validating plan files (formats 0.1 to 1.x);
- ``state``: the resources a plan has after the apply and had before it, unknown and
  sensitive values kept apart, references resolved through the configuration;
- ``s3``, ``dynamodb``, ``ecr``, ``ecs``, ``ssm``, ``firehose``: facts from resources;
- ``sources``: which facts a plan can supply, hence which checks it can judge
  (``policycheck.sources.terraform.sources.plan_judgeable``);
- ``audit``: the plan's report, judged with the same evaluation code as ``run``.
"""
