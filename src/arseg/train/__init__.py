"""Training: the loop (train.loop), its auxiliary tagging head, the decoding chosen on validation
(train.calibrate), and the train rule's run from the workflow's files (train.run)."""
