"""Dataset adapters, transforms and synthetic data generators."""
