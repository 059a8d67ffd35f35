"""Sources of facts: AWS (``aws``), Terraform plans (``terraform``) and the platform
repository (``repository``)."""
