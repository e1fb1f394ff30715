"""XLM-RoBERTa: RoBERTa's architecture over a 250k-token multilingual vocabulary."""
import keras

from cloze.models.backbones.roberta_backbone import RobertaBackbone


@keras.saving.register_keras_serializable(package="cloze")
class XLMRobertaBackbone(RobertaBackbone):
    """The XLM-RoBERTa encoder (Conneau et al., 2019): ``RobertaBackbone`` under its own name.

    The architecture, arguments, fairseq position numbering and masked-LM head
    are RoBERTa's; only the vocabulary (SentencePiece, 250,002 ids for the
    released checkpoints) differs, so presets and conversions name the model
    they hold.

    Example:
    >>> import numpy as np
    >>> backbone = XLMRobertaBackbone(vocabulary_size=100, num_layers=1, num_heads=2,
    ...                               hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> outputs = backbone({"token_ids": np.array([[0, 5, 2, 1]], "int32"),
    ...                     "padding_mask": np.array([[1, 1, 1, 0]], "int32")})
    >>> tuple(outputs["sequence_output"].shape)
    (1, 4, 8)
    """
