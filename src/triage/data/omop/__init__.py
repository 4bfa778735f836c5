"""A hospital's OMOP CDM as a source: the contract's visits, features and outcome as a flat per-visit table."""
