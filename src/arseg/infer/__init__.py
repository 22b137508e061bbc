"""Applying a trained model: windows over features of any length (infer.windows), predictions for a
split (infer.predict), and `arseg segment` on new audio (infer.segment)."""
