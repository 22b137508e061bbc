"""Log-mel features: computing them (features.logmel, torch) and reading stored ones (features.store,
numpy only)."""
