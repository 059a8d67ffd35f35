"""The report: its model, statuses and exit-code gating, the on-disk spool, reading,
merging, comparing and the history of reports."""
