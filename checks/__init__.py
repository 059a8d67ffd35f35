"""Check plugins, one module per service, installed as ``policycheck.checks``.

Each check is a pure function of collected facts and its parameters, declared with
:func:`policycheck.plugin.check.check`; ``policycheck.plugin.registry.load_registry`` finds them.
"""
