"""Applying a trained model: windows over features of any length (infer.windows), predictions for a
split (infer.predict), `arseg segment` on new audio (infer.segment), and the picture of a segmented
recording (infer.drawing)."""
