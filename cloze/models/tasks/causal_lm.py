"""The causal-language-model task: a decoder backbone predicting the next token everywhere."""
import keras
import numpy as np
from keras import ops

from cloze.models.heads.masked_lm_head import MaskedLMHead
from cloze.models.tasks.task import Task


def next_token_targets(inputs: dict):
    """``(inputs, labels, sample_weight)`` for next-token training on ``inputs``.

    The label at position ``t`` is the token at ``t + 1``; its weight is 1 only
    where both positions are real tokens, so the last position and every pad
    weigh 0. Works on numpy arrays and inside ``tf.data.Dataset.map``.

    Example:
    >>> x = {"token_ids": np.array([[0, 7, 8, 2, 1]]),
    ...      "padding_mask": np.array([[1, 1, 1, 1, 0]])}
    >>> _, labels, weights = next_token_targets(x)
    >>> ops.convert_to_numpy(labels).tolist(), ops.convert_to_numpy(weights).tolist()
    ([[7, 8, 2, 1, 0]], [[1, 1, 1, 0, 0]])
    """
    token_ids = ops.cast(inputs["token_ids"], "int32")
    padding_mask = ops.cast(inputs["padding_mask"], "int32")
    last = ops.zeros_like(token_ids[:, :1])
    labels = ops.concatenate([token_ids[:, 1:], last], axis=1)
    weights = ops.concatenate([padding_mask[:, 1:] * padding_mask[:, :-1], last], axis=1)
    return inputs, labels, weights


@keras.saving.register_keras_serializable(package="cloze")
class CausalLM(Task):
    """Predicts, at every position, the token that follows it.

    The backbone must be built with ``is_decoder=True`` (causal self-attention),
    so position ``t`` sees only tokens ``0 .. t``. The head is the backbone's
    masked-LM head (dense, activation, layer norm, projection tied to the token
    embedding plus a bias), applied at every position: Hugging Face's
    ``...ForCausalLM`` uses the same ``lm_head`` as its ``...ForMaskedLM``.

    Inputs are the backbone's; the output is logits
    ``(batch, length, vocabulary_size)`` in float32. Train on the targets of
    ``next_token_targets``: ``x, y, w = next_token_targets(x)``, then
    ``model.fit(x, y, sample_weight=w)``.

    Args:
        backbone: a ``Backbone`` with ``is_decoder=True``.

    Example:
    >>> from cloze.models import RobertaPreLNBackbone
    >>> backbone = RobertaPreLNBackbone(vocabulary_size=30, num_layers=1, num_heads=2,
    ...                                 hidden_dim=8, intermediate_dim=16,
    ...                                 max_sequence_length=16, is_decoder=True)
    >>> model = CausalLM(backbone)
    >>> logits = model({"token_ids": np.array([[0, 5, 6, 2]], "int32"),
    ...                 "segment_ids": np.zeros((1, 4), "int32"),
    ...                 "padding_mask": np.ones((1, 4), "int32")})
    >>> tuple(logits.shape)
    (1, 4, 30)
    >>> model.generate(np.array([[0, 5]]), max_length=4).shape
    (1, 4)
    """

    def __init__(self, backbone, **kwargs):
        if not getattr(backbone, "is_decoder", False):
            raise ValueError(
                f"CausalLM needs a backbone built with is_decoder=True (causal attention); "
                f"{backbone.name} ({type(backbone).__name__}) has "
                f"is_decoder={getattr(backbone, 'is_decoder', None)!r}.")
        inputs = dict(backbone.input)
        head = MaskedLMHead(token_embedding=backbone.token_embedding,
                            dtype=backbone.dtype_policy, name="lm_head",
                            **backbone.masked_lm_head_config())
        # Every position is predicted: the head gathers positions 0 .. length - 1.
        every_position = ops.cumsum(ops.ones_like(inputs["token_ids"]), axis=1) - 1
        logits = head(backbone(inputs)["sequence_output"], mask_positions=every_position)
        kwargs.setdefault("name", "causal_lm")
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.lm_head = head

    @property
    def head(self):
        return self.lm_head

    def generate(self, token_ids, max_length: int) -> np.ndarray:
        """Greedy decoding: extends each prompt with its most likely next token until
        ``max_length`` tokens.

        Args:
            token_ids: ``(batch, prompt_length)`` prompts of equal length, no padding.
            max_length: total length of the returned sequences, prompts included.

        Returns:
            ``(batch, max_length)`` int32 token ids, starting with the prompts.
        """
        token_ids = np.asarray(token_ids, "int32")
        if not 0 < token_ids.shape[1] <= max_length:
            raise ValueError(f"max_length={max_length} must be at least the prompt length "
                             f"{token_ids.shape[1]}, which must be at least 1.")
        while token_ids.shape[1] < max_length:
            inputs = {"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)}
            if "segment_ids" in self.backbone.input:
                inputs["segment_ids"] = np.zeros_like(token_ids)
            logits = ops.convert_to_numpy(self(inputs, training=False))
            next_ids = logits[:, -1].argmax(-1).astype("int32")
            token_ids = np.concatenate([token_ids, next_ids[:, None]], axis=1)
        return token_ids
