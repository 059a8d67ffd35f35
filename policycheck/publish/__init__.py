"""Publishing a report set: staging, the atomic exchange, the in-place fallback, the lock;
archiving to S3."""
