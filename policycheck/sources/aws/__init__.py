"""Collectors: the only code that reads the audited AWS accounts (the repository's drill
records are read by policycheck.sources.repository). Each module declares its resource
type and facts; ``policycheck.plugin.registry.load_registry`` finds them."""
