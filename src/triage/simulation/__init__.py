"""The simulated cohort, the default source: the reference phenotype table from HPO/Orphanet (reference), the
vocabulary read from the default contract (vocabulary), an explicit generative model with its exact Bayes posterior
(build, generative), visits and patients (sample), the mess of real extracts (mess), the files on disk (cohort), and
the shifted cohort of the monitoring demo (shift)."""
