"""Data under a contract: reading extracts with provenance, ingest (pseudonymise, normalise, dedupe), validation with
quarantine, and the checks of the training data."""
