"""Corpora of labelled sound clips: the corpus contract (table), the check that decodes every clip,
seeded splits, and the embedded synthetic corpus."""
