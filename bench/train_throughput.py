"""Training throughput of one masked-LM step: Cloze vs keras-hub vs Hugging Face (PyTorch).

Not a test: run by hand, ideally on an otherwise idle machine. Each contestant trains
the same BERT configuration at seq 128 with 20 masked positions per sequence on the
same random batches; the number is token positions (batch x 128) per second over
timed steps after warm-up steps (compilation excluded). Cloze and keras-hub are timed
in alternating rounds of ``steps / rounds`` steps, so load from other processes falls
on both alike; each reports its median round, and the ratio is the median of the
per-round ratios.

    .venv/bin/python bench/train_throughput.py                # Cloze and keras-hub
    .venv-hf/bin/python bench/train_throughput.py --torch     # Hugging Face on PyTorch

Results and the machine they ran on are recorded in docs/training.md.
"""
import argparse
import json
import os
import statistics
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


def keras_data():
    import numpy as np
    import tensorflow as tf

    ids, positions, labels = next(batches(1))
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids),
         "mask_positions": positions}
    return tf.data.Dataset.from_tensors((x, labels, np.ones(labels.shape, "float32"))).repeat()


def keras_rates(tasks, warmup, steps, rounds):
    """Per-round rates of each compiled task, timed in alternation after warm-up."""
    data = keras_data()
    for task in tasks.values():
        task.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    per_round = max(1, steps // rounds)
    rates = {name: [] for name in tasks}
    for _ in range(rounds):
        for name, task in tasks.items():
            start = time.perf_counter()
            task.fit(data, steps_per_epoch=per_round, epochs=1, verbose=0)
            rates[name].append(BATCH * SEQ * per_round / (time.perf_counter() - start))
    return rates


def cloze(size):
    """Compiled as the trainer's defaults compile it (XLA, 10 steps per call)."""
    import cloze  # noqa: F401
    from cloze.config import TrainConfig
    from cloze.models import BertBackbone, MaskedLM
    from cloze.models.optimizers import adamw

    defaults = TrainConfig()
    task = MaskedLM(BertBackbone(vocabulary_size=VOCAB, max_sequence_length=512, **SIZES[size]))
    task.compile(optimizer=adamw(1e-4), jit_compile=defaults.jit_compile,
                 steps_per_execution=defaults.steps_per_execution)
    return task


def keras_hub(size):
    import keras
    import keras_hub

    backbone = keras_hub.models.BertBackbone(vocabulary_size=VOCAB, max_sequence_length=512,
                                             **SIZES[size])
    task = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    task.compile(optimizer=keras.optimizers.AdamW(1e-4))  # keras-hub's defaults otherwise
    return task


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
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating timing rounds of Cloze and keras-hub")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    results, rounds, ratios = {}, {}, {}
    for size in SIZES:
        if args.torch:
            rate = hugging_face(size, args.warmup, args.steps)
            results[f"huggingface_torch/{size}"] = rate
            print(f"{'huggingface_torch':18s} {size:11s} {rate:10.0f} tokens/s", flush=True)
            continue
        rates = keras_rates({"cloze": cloze(size), "keras_hub": keras_hub(size)},
                            args.warmup, args.steps, args.rounds)
        for name, values in rates.items():
            results[f"{name}/{size}"] = statistics.median(values)
            rounds[f"{name}/{size}"] = values
            print(f"{name:18s} {size:11s} {statistics.median(values):10.0f} tokens/s  "
                  f"(rounds: {', '.join(f'{v:.0f}' for v in values)})", flush=True)
        ratios[size] = statistics.median(c / k for c, k in zip(rates["cloze"], rates["keras_hub"]))
        print(f"{'cloze / keras_hub':18s} {size:11s} {ratios[size]:10.2f}x", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "train_torch.json" if args.torch else "train_keras.json")
    with open(path, "w") as f:
        json.dump({"cpu_count": os.cpu_count(), "batch": BATCH, "seq": SEQ, "masks": MASKS,
                   "tokens_per_second": results, "rounds": rounds,
                   "cloze_over_keras_hub": ratios}, f, indent=2)


if __name__ == "__main__":
    main()
