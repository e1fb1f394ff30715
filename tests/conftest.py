"""Shared fixtures: tiny vocabularies and models built in-process."""
import cloze  # noqa: F401  (sets TF/Keras environment variables before TensorFlow loads)
import pytest

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
              "the", "cat", "dog", "sat", "on", "mat", "a", "ran", "##s", "."]


@pytest.fixture
def tiny_vocab():
    return list(TINY_VOCAB)


@pytest.fixture
def tiny_task(tiny_vocab):
    from cloze.models import BertBackbone, MaskedLM, MaskedLMPreprocessor, WordPieceTokenizer

    import keras
    keras.utils.set_random_seed(0)
    backbone = BertBackbone(vocabulary_size=len(tiny_vocab), num_layers=2, num_heads=2,
                            hidden_dim=16, intermediate_dim=32, max_sequence_length=16,
                            dropout=0.0)
    preprocessor = MaskedLMPreprocessor(WordPieceTokenizer(tiny_vocab), sequence_length=16)
    return MaskedLM(backbone, preprocessor)


def original_ids(examples):
    """``input_ids`` with the masked-LM labels put back at their positions."""
    original = examples["input_ids"].copy()
    for row, (positions, labels, weights) in enumerate(zip(
            examples["masked_lm_positions"], examples["masked_lm_ids"],
            examples["masked_lm_weights"])):
        original[row, positions[weights == 1]] = labels[weights == 1]
    return original
