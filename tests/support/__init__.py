"""What the tests share besides the fixtures of tests/conftest.py: the harness (moto on
loopback, the CLI, workspaces, the served demo), the Terraform plan builder, fault
injection, check helpers, independent references (ECR lifecycle, IAM) and the GitHub
Actions runner."""
