"""Check plugins, one module per service, installed as ``policycheck.checks``.

Each check is a pure function of collected facts and its parameters, declared with
:func:`policycheck.registry.check`; ``policycheck.plugins.load_registry`` finds them.
"""
