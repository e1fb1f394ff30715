"""Tokenizers: in-graph TensorFlow text ops, so the same code runs in Beam, training and serving."""
