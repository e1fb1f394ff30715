"""Building blocks shared by every backbone: embeddings and the encoder block."""
