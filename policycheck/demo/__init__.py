"""The embedded demo: a moto server on loopback (``server``), a simulated account seeded
from the checks' own examples (``seeding``), and the demo command (``command``). Not part
of the engine: nothing in the engine imports it."""
