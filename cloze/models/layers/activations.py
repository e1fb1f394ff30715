"""Activations that backbone configs refer to by registered name."""
import keras


@keras.saving.register_keras_serializable(package="cloze")
def gelu_approximate(x):
    """GELU with the tanh approximation, the feed-forward activation of keras-hub's BERT and ALBERT.

    Registered so a config that names it deserializes without custom objects.

    Example:
    >>> import numpy as np
    >>> round(float(gelu_approximate(np.float32(1.0))), 4)
    0.8412
    """
    return keras.activations.gelu(x, approximate=True)
