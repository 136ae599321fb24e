"""The pymsprog 1.0.7 reference, run in its own virtualenv (``.venv-msprog``), and a synthetic-cohort generator."""
