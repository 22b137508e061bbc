"""Query-conditioned YOHO-style models: backbones, conditioning, head, save/load."""
