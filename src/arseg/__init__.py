"""arseg: audio referring segmentation (YOHO-style, query-conditioned)."""

__version__ = "0.1.0"

# Bumped whenever a saved model file stops being loadable by older/newer code.
MODEL_FORMAT_VERSION = 2
