"""Learned feedback models (Keras 3, keras.ops only)."""
