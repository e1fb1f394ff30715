"""Dynamic BERT masking in-graph, with the same counting rule as the Beam data stage."""
import keras
import tensorflow as tf


def num_tokens_to_mask_tf(num_candidates, rate, max_predictions):
    """The graph twin of ``cloze.data.masking.num_tokens_to_mask``.

    ``min(max_predictions, max(1, round(n * rate)))`` and 0 when ``n == 0``; the
    product is taken in float64 and ``tf.round`` rounds halves to even, exactly
    like Python's ``round`` in the Beam stage.
    """
    n = tf.cast(num_candidates, tf.int64)
    chosen = tf.cast(tf.round(tf.cast(n, tf.float64) * rate), tf.int64)
    chosen = tf.minimum(tf.cast(max_predictions, tf.int64), tf.maximum(chosen, 1))
    return tf.where(n > 0, chosen, tf.zeros_like(chosen))


@keras.saving.register_keras_serializable(package="cloze")
class MaskedLMMaskGenerator(keras.layers.Layer):
    """Chooses and corrupts tokens for masked-LM training, as BERT does, on the fly.

    Of each sequence's selectable tokens (all but ``unselectable_token_ids``),
    ``num_tokens_to_mask(n, mask_selection_rate, mask_selection_length)`` are
    chosen uniformly without replacement; of those, ``mask_token_rate`` become
    ``mask_token_id``, ``random_token_rate`` a random selectable-vocabulary id,
    and the rest stay. The counting rule is the Beam stage's, so static and
    dynamic masking produce the same number of predictions.

    Args:
        vocabulary_size: size of the vocabulary random replacements come from.
        mask_selection_rate: share of selectable tokens chosen.
        mask_token_id: id of ``[MASK]``.
        mask_selection_length: the most predictions per sequence; also the
            padded length of the outputs.
        unselectable_token_ids: ids never chosen nor drawn as replacements
            (padding, ``[CLS]``, ``[SEP]``, ...).
        mask_token_rate: share of chosen tokens replaced by ``[MASK]``.
        random_token_rate: share replaced by a random token.
        seed: two generators with the same seed make the same sequence of choices.

    Returns (from ``call(token_ids)`` on dense ``(batch, length)`` ids) a dict:
    ``token_ids`` (corrupted), ``mask_positions``, ``mask_ids`` (original ids)
    and ``mask_weights``, the last three ``(batch, mask_selection_length)``.

    Example:
    >>> import numpy as np
    >>> generator = MaskedLMMaskGenerator(vocabulary_size=20, mask_selection_rate=0.5,
    ...     mask_token_id=4, mask_selection_length=3, unselectable_token_ids=[0, 2, 3],
    ...     mask_token_rate=1.0, random_token_rate=0.0, seed=1)
    >>> out = generator(np.array([[2, 7, 8, 9, 10, 3, 0, 0]]))
    >>> int(out["mask_weights"].numpy().sum()), sorted(set(out["token_ids"].numpy()[0]) & {4})
    (2, [4])
    """

    def __init__(self, vocabulary_size, mask_selection_rate, mask_token_id,
                 mask_selection_length=None, unselectable_token_ids=(0,), mask_token_rate=0.8,
                 random_token_rate=0.1, seed=None, **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        if not 0.0 < mask_selection_rate < 1.0:
            raise ValueError(f"mask_selection_rate={mask_selection_rate} must be in (0, 1).")
        if mask_token_rate < 0 or random_token_rate < 0 or mask_token_rate + random_token_rate > 1:
            raise ValueError(f"mask_token_rate={mask_token_rate} and random_token_rate="
                             f"{random_token_rate} must be non-negative and sum to at most 1.")
        if mask_selection_length is None:
            raise ValueError("mask_selection_length is required: the outputs are padded to it.")
        self.vocabulary_size = vocabulary_size
        self.mask_selection_rate = mask_selection_rate
        self.mask_token_id = mask_token_id
        self.mask_selection_length = mask_selection_length
        self.unselectable_token_ids = list(unselectable_token_ids)
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate
        self.seed = seed
        self._replacement_ids = sorted(set(range(vocabulary_size)) - set(self.unselectable_token_ids))
        # Stateful, so each call (each batch, each epoch) draws fresh masks.
        self._seed_generator = keras.random.SeedGenerator(seed)

    def call(self, token_ids):
        token_ids = tf.cast(tf.convert_to_tensor(token_ids), tf.int32)
        shape = tf.shape(token_ids)
        selectable = tf.reduce_all(
            tf.not_equal(token_ids[..., None], tf.constant(self.unselectable_token_ids, tf.int32)),
            axis=-1)
        counts = num_tokens_to_mask_tf(tf.reduce_sum(tf.cast(selectable, tf.int32), axis=1),
                                       self.mask_selection_rate, self.mask_selection_length)
        # A uniform score per selectable token; the top `count` scores are a uniform
        # sample without replacement.
        scores = tf.where(selectable, keras.random.uniform(shape, seed=self._seed_generator), -1.0)
        k = tf.minimum(self.mask_selection_length, shape[1])
        _, top = tf.math.top_k(scores, k=k)
        keep = tf.range(k)[None, :] < tf.cast(counts[:, None], tf.int32)
        positions = tf.sort(tf.where(keep, top, shape[1]), axis=1)
        keep = positions < shape[1]
        positions = tf.where(keep, positions, 0)
        originals = tf.gather(token_ids, positions, batch_dims=1)

        draw = keras.random.uniform(tf.shape(positions), seed=self._seed_generator)
        random_ids = tf.gather(tf.constant(self._replacement_ids, tf.int32), keras.random.randint(
            tf.shape(positions), 0, len(self._replacement_ids), dtype="int32",
            seed=self._seed_generator))
        replaced = tf.where(draw < self.mask_token_rate, self.mask_token_id,
                            tf.where(draw < self.mask_token_rate + self.random_token_rate,
                                     random_ids, originals))
        batch_index = tf.broadcast_to(tf.range(shape[0])[:, None], tf.shape(positions))
        updates = tf.boolean_mask(tf.stack([batch_index, positions], axis=-1), keep)
        corrupted = tf.tensor_scatter_nd_update(token_ids, updates, tf.boolean_mask(replaced, keep))

        pad = self.mask_selection_length - k
        pad_to_length = lambda t: tf.pad(t, [[0, 0], [0, pad]])  # noqa: E731
        return {
            "token_ids": corrupted,
            "mask_positions": pad_to_length(positions),
            "mask_ids": pad_to_length(tf.where(keep, originals, 0)),
            "mask_weights": pad_to_length(tf.cast(keep, tf.float32)),
        }

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "mask_selection_rate": self.mask_selection_rate,
            "mask_token_id": self.mask_token_id,
            "mask_selection_length": self.mask_selection_length,
            "unselectable_token_ids": self.unselectable_token_ids,
            "mask_token_rate": self.mask_token_rate,
            "random_token_rate": self.random_token_rate,
            "seed": self.seed,
        })
        return config
