"""IAM as AWS evaluates it: policy documents, wildcards, the evaluator, trust policies, and
the IAM documents policycheck generates."""
