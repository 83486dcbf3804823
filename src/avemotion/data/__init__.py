"""Data: corpus loaders, label mapping, splits, the feature store and the synthetic corpus."""
