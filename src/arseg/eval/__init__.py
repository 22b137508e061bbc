"""Scoring: sed_eval's counting rules without sed_eval (eval.scoring), sed_eval metrics (eval.sed_metrics),
sed_scores_eval's threshold-free scores (eval.psds), the evaluate rule (eval.evaluate) and the paired
comparison of backbones (eval.compare)."""
