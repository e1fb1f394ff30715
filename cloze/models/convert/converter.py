"""What every Hugging Face architecture converter provides."""
from cloze.models.convert.checkpoint import ConversionError


class HFConverter:
    """Converts one Hugging Face ``model_type`` to and from one Cloze backbone class.

    Subclasses set the class attributes and implement the three abstract
    methods; the hooks default to a model whose tensors all map one to one and
    whose tokenizer Cloze cannot read.

    Attributes:
        model_type: ``config.json``'s ``model_type``.
        backbone_class: the Cloze backbone it builds and exports.
        architecture: the Hugging Face masked-LM class written into ``architectures``.
        tied_tensors: tensors a checkpoint may repeat, mapped to the ones they copy.
    """

    model_type: str
    backbone_class: type
    architecture: str
    tied_tensors: dict = {}

    def backbone_from_config(self, config):
        """A backbone shaped like ``config`` (an ``HFConfig``), refusing what it cannot hold."""
        raise NotImplementedError

    def config_from_backbone(self, backbone) -> dict:
        """The ``config.json`` values for ``backbone``."""
        raise NotImplementedError

    def weight_mappings(self, task, tensors=None) -> list:
        """The ``TensorMapping``s of ``task``; ``tensors`` (on import) tells optional ones apart."""
        raise NotImplementedError

    def hf_config(self, **fields) -> dict:
        """``config.json`` values: this architecture's identity, tied embeddings, and ``fields``."""
        return {"architectures": [self.architecture], "model_type": self.model_type,
                "initializer_range": 0.02, "tie_word_embeddings": True, **fields}

    def fold_tensors(self, tensors: dict) -> dict:
        """Merges tensors that have no Cloze variable of their own into ones that do."""
        return tensors

    def unfold_tensors(self, tensors: dict) -> dict:
        """Adds the tensors ``fold_tensors`` merged away, with neutral values."""
        return tensors

    def preprocessor_from_checkpoint(self, checkpoint_dir, config, sequence_length=None):
        """The task's preprocessor, or None when Cloze has no tokenizer for this checkpoint."""
        return None

    def save_tokenizer(self, preprocessor, out_dir) -> None:
        """Writes the tokenizer files a Hugging Face tokenizer loads."""
        raise ConversionError(f"cannot export the tokenizer of a {self.backbone_class.__name__} "
                              f"to Hugging Face yet.")


def encoder_shape_from_config(config) -> dict:
    """The backbone arguments that BERT, RoBERTa and ALBERT configs name alike."""
    return {"vocabulary_size": config.require("vocab_size"),
            "num_layers": config.require("num_hidden_layers"),
            "num_heads": config.require("num_attention_heads"),
            "hidden_dim": config.require("hidden_size"),
            "intermediate_dim": config.require("intermediate_size"),
            "dropout": config.get("hidden_dropout_prob", 0.1)}


def encoder_shape_to_config(backbone) -> dict:
    """The ``config.json`` fields ``encoder_shape_from_config`` reads."""
    return {"vocab_size": backbone.vocabulary_size,
            "num_hidden_layers": backbone.num_layers,
            "num_attention_heads": backbone.num_heads,
            "hidden_size": backbone.hidden_dim,
            "intermediate_size": backbone.intermediate_dim,
            "hidden_dropout_prob": backbone.dropout,
            "attention_probs_dropout_prob": backbone.dropout}
