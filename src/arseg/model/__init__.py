"""The query-conditioned YOHO-style model: the segmenter and its model file (model.segmenter), the
backbones and their registry (model.backbones, model.blocks), FiLM conditioning, the sentence encoder,
what a model is asked (model.query_inputs), YOHO targets and decoding, and what the workflow knows of each
backbone without torch (model.backbone_specs)."""
