"""Video features: face finding, landmarks, expression CNN, motion -> per-frame x_t."""
