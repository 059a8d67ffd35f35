"""What the tests share: the moto and CLI harness lives in conftest.py; here, the plan
builder, fault injection, check helpers, independent references (ECR lifecycle, IAM) and
the GitHub Actions runner."""
