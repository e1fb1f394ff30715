"""Training throughput of one masked-LM step: Cloze vs keras-hub vs Hugging Face (PyTorch).

Not a test: run by hand on an otherwise idle machine. Each contestant trains the
same BERT configuration at seq 128 with 20 masked positions per sequence on the
same random batches; the number is token positions (batch x 128) per second,
averaged over timed steps after warm-up steps (compilation excluded).

    .venv/bin/python bench/train_throughput.py                # Cloze and keras-hub
    .venv-hf/bin/python bench/train_throughput.py --torch     # Hugging Face on PyTorch

Results and the machine they ran on are recorded in docs/training.md.
"""
import argparse
import json
import os
import time

SIZES = {  # BERT-tiny and BERT-small (Turc et al., 2019)
    "bert_tiny": dict(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512),
    "bert_small": dict(num_layers=4, hidden_dim=512, num_heads=8, intermediate_dim=2048),
}
VOCAB, SEQ, MASKS, BATCH = 30522, 128, 20, 32


def batches(n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield (rng.integers(5, VOCAB, (BATCH, SEQ)).astype("int32"),
               np.sort(rng.choice(np.arange(1, SEQ - 1), (BATCH, MASKS)), axis=1).astype("int32"),
               rng.integers(5, VOCAB, (BATCH, MASKS)).astype("int32"))


def keras_rate(task, warmup, steps, steps_per_execution):
    import numpy as np
    import tensorflow as tf

    ids, positions, labels = next(batches(1))
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids),
         "mask_positions": positions}
    data = tf.data.Dataset.from_tensors((x, labels, np.ones(labels.shape, "float32"))).repeat()
    task.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    task.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return BATCH * SEQ * steps / (time.perf_counter() - start)


def cloze(size, warmup, steps):
    import cloze  # noqa: F401
    from cloze.models import BertBackbone, MaskedLM
    from cloze.models.optimizers import adamw

    task = MaskedLM(BertBackbone(vocabulary_size=VOCAB, max_sequence_length=512, **SIZES[size]))
    task.compile(optimizer=adamw(1e-4), jit_compile=True, steps_per_execution=10)
    return keras_rate(task, warmup, steps, 10)


def keras_hub(size, warmup, steps):
    import keras
    import keras_hub

    backbone = keras_hub.models.BertBackbone(vocabulary_size=VOCAB, max_sequence_length=512,
                                             **SIZES[size])
    task = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    task.compile(optimizer=keras.optimizers.AdamW(1e-4))  # keras-hub's defaults otherwise
    return keras_rate(task, warmup, steps, 1)


def hugging_face(size, warmup, steps):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    s = SIZES[size]
    model = BertForMaskedLM(BertConfig(vocab_size=VOCAB, hidden_size=s["hidden_dim"],
                                       num_hidden_layers=s["num_layers"],
                                       num_attention_heads=s["num_heads"],
                                       intermediate_size=s["intermediate_dim"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    data = [tuple(torch.from_numpy(a).long() for a in b) for b in batches(1)]
    ids, positions, labels = data[0]
    full_labels = torch.full_like(ids, -100).scatter_(1, positions, labels)

    def step():
        optimizer.zero_grad()
        model(input_ids=ids, labels=full_labels).loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return BATCH * SEQ * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="store_true", help="measure Hugging Face only")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    contestants = {"huggingface_torch": hugging_face} if args.torch else {
        "cloze": cloze, "keras_hub": keras_hub}
    results = {}
    for size in SIZES:
        for name, run in contestants.items():
            rate = run(size, args.warmup, args.steps)
            results[f"{name}/{size}"] = rate
            print(f"{name:18s} {size:11s} {rate:10.0f} tokens/s", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "train_torch.json" if args.torch else "train_keras.json")
    with open(path, "w") as f:
        json.dump({"cpu_count": os.cpu_count(), "batch": BATCH, "seq": SEQ, "masks": MASKS,
                   "tokens_per_second": results}, f, indent=2)


if __name__ == "__main__":
    main()
