"""Drift monitoring: the training reference profile, the live prediction log, the statistical comparison, the
label-free and labelled performance estimates, and the reports."""
