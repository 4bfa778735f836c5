"""Evaluation: metric functions and threshold tuning (metrics), the test-set report against baselines and the Bayes
limit (evaluate), plot tables and figures (plots), and the run summary (summary)."""
