"""Keras 3 building blocks (``keras.ops`` only, channels-last, serialisable)."""
