"""Release: the quality gate (gate), the model registry and publishing (registry), the model card (card), the
promotion check (promotion), retraining (retrain), the pull-request report (ci_report) and the ref-to-stage mapping
of the deploy workflow (ci_environment)."""
