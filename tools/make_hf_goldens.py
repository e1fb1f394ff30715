"""Writes tiny random Hugging Face masked-LM checkpoints and their outputs as test goldens.

Runs only in the reference environments ``.venv-hf`` and ``.venv-hf4`` (PyTorch +
transformers 5.x or 4.x; see ``tools/README.md``), never in Cloze's own environment or
CI. For each architecture it
builds a tiny model with its masked-LM head, randomises every parameter (so a swapped
bias or a transposed kernel changes the outputs), saves it with ``save_pretrained`` as
safetensors into ``tests/models/hf_goldens/<model_type>/`` and records the model's
outputs on fixed inputs into ``tests/models/hf_goldens/<model_type>.npz``:

* ``token_ids``, ``padding_mask`` and (where the model has segments) ``segment_ids``:
  ``(2, 8)`` int32, the second row padded at the end;
* ``logits``: ``(2, 8, vocab)`` float32 masked-LM logits at every position (next-token
  logits for ``roberta-prelayernorm-causal``, RoBERTa-PreLayerNorm's causal-LM head on
  an ``is_decoder=True`` model: a golden name, not a ``model_type``);
* ``sequence_output``: ``(2, 8, hidden)`` float32, the base model's last hidden state.

``deberta-v2`` (DeBERTa-v3's configuration) uses 48 tokens instead of 8, with 16
position buckets, so distances past 8 fall into logarithmic buckets.
``roberta-prelayernorm-relative-key`` and ``roberta-prelayernorm-relative-key-query``
(RoBERTa-PreLayerNorm with ``position_embedding_type`` ``relative_key`` /
``relative_key_query``, which only transformers 4.x builds) use 16 tokens over an
18-position distance table; each environment writes only the goldens its
transformers version makes.

For BERT it also writes a WordPiece ``vocab.txt`` and records what Hugging Face's
tokenizer makes of ``TEXTS`` (``texts``; ``text_token_ids``, padded to 16).

Usage: ``.venv-hf/bin/python tools/make_hf_goldens.py [OUT_DIR]``, then the same with
``.venv-hf4/bin/python``.
"""
import os
import string
import sys

import numpy as np
import torch
import transformers

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "tests", "models", "hf_goldens")
SEED = 1234
BATCH, LENGTH, PADDED = 2, 8, 3
TEXTS = ["The cat sat on the mat.", "A dog ran, unafraid!"]
TEXT_LENGTH = 16

# Shared by every architecture, so the goldens stay tiny and comparable.
TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64)


def bert_vocabulary(size):
    """BERT's special tokens, whole words, then single characters and their ``##`` forms."""
    words = ["the", "cat", "sat", "on", "mat", "dog", "ran", "un", "##af", "##raid"]
    letters = list(string.ascii_lowercase) + list(".,!?")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + letters
    vocab += ["##" + c for c in letters]
    vocab += [f"[unused{i}]" for i in range(size - len(vocab))]
    assert len(vocab) == len(set(vocab)) == size, vocab
    return vocab


def fnet_config():
    # FNet has no attention, hence no head count.
    tiny = {k: v for k, v in TINY.items() if k != "num_attention_heads"}
    return transformers.FNetConfig(**tiny)


def deberta_v3_config():
    # DeBERTa-v3's attention: relative only, log buckets, shared and normalised positions.
    return transformers.DebertaV2Config(
        **TINY, relative_attention=True, position_buckets=16, max_relative_positions=-1,
        pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", share_att_key=True,
        position_biased_input=False, type_vocab_size=0)


def distilbert_config():
    return transformers.DistilBertConfig(
        vocab_size=TINY["vocab_size"], dim=TINY["hidden_size"], n_layers=TINY["num_hidden_layers"],
        n_heads=TINY["num_attention_heads"], hidden_dim=TINY["intermediate_size"],
        max_position_embeddings=TINY["max_position_embeddings"])


# RoBERTa-style models offset positions by pad_token_id + 1, hence the longer tables;
# the pad id and layer-norm epsilon are those of the released checkpoints.
ROBERTA_LIKE = dict(TINY, max_position_embeddings=TINY["max_position_embeddings"] + 2,
                    type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                    layer_norm_eps=1e-5)


def relative_pre_ln_config(position_embedding_type):
    # Narrower than TINY, to keep the files small. 18 positions (16 tokens after the pad
    # offset): a 35-row distance table per layer, of which 16-token inputs reach 31 rows.
    return transformers.RobertaPreLayerNormConfig(
        **dict(ROBERTA_LIKE, hidden_size=16, intermediate_size=32, max_position_embeddings=18),
        position_embedding_type=position_embedding_type)


# model_type -> (masked-LM class, config factory, number of segments or 0 for none).
ARCHITECTURES = {
    "bert": (transformers.BertForMaskedLM, lambda: transformers.BertConfig(**TINY), 2),
    "albert": (transformers.AlbertForMaskedLM,
               lambda: transformers.AlbertConfig(embedding_size=16, **TINY), 2),
    "roberta": (transformers.RobertaForMaskedLM,
                lambda: transformers.RobertaConfig(**ROBERTA_LIKE), 1),
    "roberta-prelayernorm": (transformers.RobertaPreLayerNormForMaskedLM,
                             lambda: transformers.RobertaPreLayerNormConfig(**ROBERTA_LIKE), 1),
    "xlm-roberta": (transformers.XLMRobertaForMaskedLM,
                    lambda: transformers.XLMRobertaConfig(**ROBERTA_LIKE), 1),
    "distilbert": (transformers.DistilBertForMaskedLM, distilbert_config, 0),
    "roberta-prelayernorm-causal": (
        transformers.RobertaPreLayerNormForCausalLM,
        lambda: transformers.RobertaPreLayerNormConfig(**ROBERTA_LIKE, is_decoder=True), 1),
    "fnet": (transformers.FNetForMaskedLM, fnet_config, 4),
    "deberta-v2": (transformers.DebertaV2ForMaskedLM, deberta_v3_config, 0),
    "roberta-prelayernorm-relative-key": (
        transformers.RobertaPreLayerNormForMaskedLM,
        lambda: relative_pre_ln_config("relative_key"), 1),
    "roberta-prelayernorm-relative-key-query": (
        transformers.RobertaPreLayerNormForMaskedLM,
        lambda: relative_pre_ln_config("relative_key_query"), 1),
}
# Architectures whose goldens need longer inputs than LENGTH.
LENGTHS = {"deberta-v2": 48, "roberta-prelayernorm-relative-key": 16,
           "roberta-prelayernorm-relative-key-query": 16}
# Goldens only transformers 4.x makes: 5.x dropped relative positions from
# RoBERTa-PreLayerNorm (a config asking for them builds an absolute-position model).
# Each environment writes its own group: .venv-hf4 these, .venv-hf the others.
TRANSFORMERS_4_GOLDENS = ("roberta-prelayernorm-relative-key",
                          "roberta-prelayernorm-relative-key-query")


def randomise(model, generator):
    """Gives every parameter seeded non-trivial values: norms' scales near 1, the rest near 0."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator) * 0.1
            is_norm_scale = name.endswith("weight") and parameter.ndim == 1
            parameter.copy_(1.0 + noise if is_norm_scale else noise)


def fixed_inputs(config, num_segments, rng, length=LENGTH):
    """Token ids above the special ids, the second row padded at the end with the pad id."""
    token_ids = rng.integers(5, config.vocab_size, size=(BATCH, length)).astype("int32")
    padding_mask = np.ones((BATCH, length), "int32")
    padding_mask[1, length - PADDED:] = 0
    token_ids[padding_mask == 0] = config.pad_token_id
    inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
    if num_segments:
        segment_ids = np.zeros((BATCH, length), "int32")
        if num_segments > 1:
            segment_ids[:, length // 2:] = 1
        inputs["segment_ids"] = segment_ids
    return inputs


def torch_inputs(inputs):
    names = {"token_ids": "input_ids", "padding_mask": "attention_mask",
             "segment_ids": "token_type_ids"}
    return {names[k]: torch.from_numpy(v.astype("int64")) for k, v in inputs.items()}


def write_golden(model_type, out_dir, seed):
    model_class, make_config, num_segments = ARCHITECTURES[model_type]
    torch.manual_seed(seed)
    model = model_class(make_config()).eval()
    randomise(model, torch.Generator().manual_seed(seed))
    inputs = fixed_inputs(model.config, num_segments, np.random.default_rng(seed),
                          LENGTHS.get(model_type, LENGTH))
    with torch.no_grad():
        logits = model(**torch_inputs(inputs)).logits
        sequence_output = model.base_model(**torch_inputs(inputs)).last_hidden_state
    record = dict(inputs, logits=logits.numpy(), sequence_output=sequence_output.numpy())

    checkpoint_dir = os.path.join(out_dir, model_type)
    model.save_pretrained(checkpoint_dir, safe_serialization=True)
    if model_type == "bert":
        record["text_token_ids"] = write_bert_tokenizer(checkpoint_dir, model.config.vocab_size)
        record["texts"] = np.asarray(TEXTS)
    np.savez_compressed(os.path.join(out_dir, f"{model_type}.npz"), **record)
    print(f"{model_type}: {checkpoint_dir} logits {tuple(logits.shape)}")


def write_bert_tokenizer(checkpoint_dir, vocabulary_size):
    """Writes ``vocab.txt`` and the tokenizer config; returns the ids of ``TEXTS``."""
    vocab_file = os.path.join(checkpoint_dir, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("\n".join(bert_vocabulary(vocabulary_size)) + "\n")
    tokenizer = transformers.BertTokenizer(vocab_file, do_lower_case=True)
    tokenizer.save_pretrained(checkpoint_dir)
    encoded = tokenizer(TEXTS, padding="max_length", max_length=TEXT_LENGTH, truncation=True)
    return np.asarray(encoded["input_ids"], "int32")


def main(argv):
    out_dir = os.path.abspath(argv[1] if len(argv) > 1 else OUT_DIR)
    major = int(transformers.__version__.split(".")[0])
    for i, model_type in enumerate(ARCHITECTURES):
        needs = 4 if model_type in TRANSFORMERS_4_GOLDENS else 5
        if needs == major:
            write_golden(model_type, out_dir, SEED + i)
        else:
            print(f"{model_type}: skipped, made with transformers {needs}.x "
                  f"(this is {transformers.__version__}; see tools/README.md)")


if __name__ == "__main__":
    main(sys.argv)
