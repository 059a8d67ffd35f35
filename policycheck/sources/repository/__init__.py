"""The platform repository as a source of facts: its checkout at the audited commit, the
drill records, the backend configuration."""
