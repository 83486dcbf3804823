"""Training and evaluation: folds, the training loop, metrics, reports."""
