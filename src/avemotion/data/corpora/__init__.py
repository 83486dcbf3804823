"""Corpus loaders (RAVDESS, CREMA-D, IEMOCAP, folder), registered by name."""
