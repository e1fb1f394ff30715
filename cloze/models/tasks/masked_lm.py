"""The masked-language-model task: a backbone plus a ``MaskedLMHead``."""
import os

import keras

from cloze.models import presets
from cloze.models.backbones.backbone import Backbone
from cloze.models.heads.masked_lm_head import MaskedLMHead
from cloze.models.preprocessors.masked_lm_preprocessor import MaskedLMPreprocessor
from cloze.models.tasks.fill_mask import fill_mask, format_fills
from cloze.models.tasks.task import Task


@keras.saving.register_keras_serializable(package="cloze")
class MaskedLM(Task):
    """Predicts the tokens at ``mask_positions`` from the backbone's sequence output.

    Inputs are the backbone's inputs plus ``mask_positions`` ``(batch, masks)``;
    the output is logits ``(batch, masks, vocabulary_size)`` in float32. The head
    is tied to the backbone's token embedding and computes only the masked
    positions, and so, where the backbone allows it, does the backbone's last
    block (``Backbone.masked_hidden_states``).

    Args:
        backbone: a ``Backbone``.
        preprocessor: a ``MaskedLMPreprocessor`` or None.

    Example:
    >>> import numpy as np
    >>> from cloze.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2,
    ...                         hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> model = MaskedLM(backbone)
    >>> logits = model({"token_ids": np.ones((2, 6), "int32"),
    ...                 "segment_ids": np.zeros((2, 6), "int32"),
    ...                 "padding_mask": np.ones((2, 6), "int32"),
    ...                 "mask_positions": np.array([[1, 2], [3, 0]])})
    >>> tuple(logits.shape)
    (2, 2, 50)
    """

    def __init__(self, backbone, preprocessor=None, **kwargs):
        inputs = dict(backbone.input)
        mask_positions = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        head = MaskedLMHead(token_embedding=backbone.token_embedding,
                            dtype=backbone.dtype_policy, name="mlm_head",
                            **backbone.masked_lm_head_config())
        logits = head(backbone(inputs)["sequence_output"], mask_positions=mask_positions)
        kwargs.setdefault("name", "masked_lm")
        super().__init__(inputs={**inputs, "mask_positions": mask_positions}, outputs=logits,
                         **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.masked_lm_head = head

    def call(self, inputs, training=None, mask=None):
        # The graph built in __init__, computed with less work: the last block and
        # the head see only the masked positions.
        if not isinstance(inputs, dict):
            return super().call(inputs, training=training, mask=mask)
        features = {name: inputs[name] for name in self.backbone.input}
        rows = self.backbone.masked_hidden_states(features, inputs["mask_positions"],
                                                  training=training)
        return self.masked_lm_head(rows)

    def fill_mask(self, texts, top_k=5, num_masks=8) -> list:
        """For each text, for each ``[MASK]`` in it, the ``top_k`` ``(token, score)`` fillers."""
        if self.preprocessor is None:
            raise ValueError("fill_mask needs a preprocessor; build MaskedLM with one.")
        return format_fills(fill_mask(self, self.preprocessor, texts, top_k, num_masks))

    @property
    def head(self):
        return self.masked_lm_head

    def get_config(self):
        return {**super().get_config(),
                "preprocessor": (keras.layers.serialize(self.preprocessor)
                                 if self.preprocessor is not None else None)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("preprocessor"):
            config["preprocessor"] = keras.layers.deserialize(config["preprocessor"])
        return super().from_config(config)

    def save_to_preset(self, preset_dir: str) -> None:
        """Writes the task, backbone and preprocessor in keras-hub's preset layout."""
        super().save_to_preset(preset_dir)
        if self.preprocessor is not None:
            self.preprocessor.save_to_preset(preset_dir)

    @classmethod
    def _from_backbone_preset(cls, preset, **kwargs):
        preprocessor = None
        if os.path.exists(os.path.join(preset, presets.PREPROCESSOR_CONFIG_FILE)):
            preprocessor = MaskedLMPreprocessor.from_preset(preset)
        return cls(Backbone.from_preset(preset, load_weights=False), preprocessor, **kwargs)

    def _load_preset_assets(self, preset):
        if self.preprocessor is not None:
            self.preprocessor.load_preset_assets(preset)
