"""The policy: the policy file as written, its bindings to checks, the controls catalog,
crosswalk, waivers, name templates and regions."""
