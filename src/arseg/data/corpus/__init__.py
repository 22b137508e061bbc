"""Corpora of labelled sound clips (the embedded synthetic demo corpus and friends)."""
