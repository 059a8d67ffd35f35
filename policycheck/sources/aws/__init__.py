"""Collectors: the only code that reads the audited systems (AWS, and the evidence
repository for DR drills). Each module declares its resource type and facts;
``policycheck.plugin.registry.load_registry`` finds them."""
