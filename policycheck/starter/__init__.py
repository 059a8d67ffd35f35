"""``policycheck init``: a starter policy from what the account holds."""
