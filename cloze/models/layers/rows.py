"""Picking positions out of a sequence."""
from keras import ops


def take_rows(sequence, positions):
    """The vectors of ``sequence`` ``(batch, length, width)`` at ``positions``
    ``(batch, count)``: ``(batch, count, width)``.

    Example:
    >>> import numpy as np
    >>> sequence = np.arange(12, dtype="float32").reshape(1, 4, 3)
    >>> np.asarray(take_rows(sequence, np.array([[3, 0]]))).tolist()
    [[[9.0, 10.0, 11.0], [0.0, 1.0, 2.0]]]
    """
    positions = ops.expand_dims(ops.cast(positions, "int32"), -1)
    return ops.take_along_axis(sequence, positions, axis=1)
