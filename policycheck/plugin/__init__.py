"""Plugin model: how a check, a fact, a resource type and their examples are declared, and
the registry that gathers them."""
