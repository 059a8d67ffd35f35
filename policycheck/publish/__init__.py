"""Publishing: a report set written into its output directory as one, so that a reader
sees the old set or the new one (reportset.py: the steps; staging.py: the set and what
every way of publishing shares; exchange.py: the atomic directory exchange; fallback.py:
the in-place fallback; lock.py: the lock and the signals held); and the evidence archive
in S3 (archive.py).

The front door: each name below is imported from its module when first used, so that
reaching the archive does not load the renderers."""

from typing import TYPE_CHECKING

from policycheck.frontdoor import imported_when_used

if TYPE_CHECKING:
    from policycheck.publish.reportset import publish_documents, publish_set, write_reports
    from policycheck.publish.staging import CHECKSUMS, check_output_dir

#: Where each public name lives.
_HOMES = {
    "CHECKSUMS": "policycheck.publish.staging",
    "check_output_dir": "policycheck.publish.staging",
    "publish_documents": "policycheck.publish.reportset",
    "publish_set": "policycheck.publish.reportset",
    "write_reports": "policycheck.publish.reportset",
}

__all__ = ["CHECKSUMS", "check_output_dir", "publish_documents", "publish_set", "write_reports"]

__getattr__ = imported_when_used(__name__, _HOMES)
