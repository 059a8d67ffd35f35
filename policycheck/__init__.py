"""policycheck: verify a backup and disaster-recovery policy against live AWS resources."""

__version__ = "0.1.0"
