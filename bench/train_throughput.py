"""Training throughput of one masked-LM step: Cloze vs keras-hub vs Hugging Face (PyTorch).

Not a test: run by hand, ideally on an otherwise idle machine. Each contestant trains
the same BERT configuration at seq 128 with 20 masked positions per sequence on the
same random batches; the number is token positions (batch x 128) per second over
timed steps after warm-up steps (compilation excluded; for Keras, the time inside the
compiled executions, ``ExecutionTimer``). Cloze and keras-hub are timed in alternating
rounds of ``steps / rounds`` steps, so load from other processes falls
on both alike; each reports its median round, and the ratio is the median of the
per-round ratios. The CPU time per step (``time.process_time``) of every round is
recorded too, with the median ratio of keras-hub's to Cloze's.

    .venv/bin/python bench/train_throughput.py                # Cloze and keras-hub
    .venv/bin/python bench/train_throughput.py --dtype-policy mixed_bfloat16
    .venv-hf/bin/python bench/train_throughput.py --torch     # Hugging Face on PyTorch
    .venv-hf/bin/python bench/train_throughput.py --torch --dtype-policy mixed_bfloat16

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


class ExecutionTimer:
    """Keras callback: wall-clock and CPU seconds of each compiled execution (one call
    into the training function, ``steps_per_execution`` steps), start to finish.

    Timing the executions rather than the whole ``fit`` keeps ``fit``'s own start and
    end out of the number: on this machine a short ``fit`` sometimes ends only at the
    next multiple of 10.24 s, whatever the model (rounds of exactly 10.24 or 40.96 s).
    """

    def __init__(self):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                timer.started = time.perf_counter(), time.process_time()

            def on_train_batch_end(self, batch, logs=None):
                float(logs["loss"])  # waits for the execution to finish
                wall, cpu = timer.started
                timer.wall += time.perf_counter() - wall
                timer.cpu += time.process_time() - cpu

        self.callback = Callback()
        self.wall = self.cpu = 0.0


def keras_rates(tasks, warmup, steps, rounds):
    """Per-round rates (tokens per wall-clock second) and CPU milliseconds per step
    of each compiled task, timed in alternation after warm-up."""
    data = keras_data()
    for task in tasks.values():
        task.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    per_round = max(1, steps // rounds)
    per_call = max(getattr(task, "steps_per_execution", 1) for task in tasks.values())
    if per_round % per_call:
        # A round that ends part-way through an execution gets a call of fewer
        # steps: rounds of 6 steps (steps_per_execution 10) cost Cloze's BERT-small
        # about 40% more CPU per step than rounds of 10 in the same session.
        raise SystemExit(f"--steps / --rounds = {per_round} steps per round: use a "
                         f"multiple of steps_per_execution ({per_call})")
    rates = {name: [] for name in tasks}
    cpu_ms = {name: [] for name in tasks}
    for _ in range(rounds):
        for name, task in tasks.items():
            timer = ExecutionTimer()
            task.fit(data, steps_per_epoch=per_round, epochs=1, verbose=0,
                     callbacks=[timer.callback])
            rates[name].append(BATCH * SEQ * per_round / timer.wall)
            # The whole process's CPU time, both cores: less sensitive than wall
            # time to other processes sharing the machine.
            cpu_ms[name].append(1000 * timer.cpu / per_round)
    return rates, cpu_ms


def cloze(size):
    """Compiled as the trainer compiles it with ``TrainConfig``'s defaults
    (``cloze.training.trainer.compile_options``: XLA, 10 steps per call)."""
    import cloze  # noqa: F401
    from cloze.config import TrainConfig
    from cloze.models import BertBackbone, MaskedLM
    from cloze.models.optimizers import adamw
    from cloze.training.trainer import compile_options

    task = MaskedLM(BertBackbone(vocabulary_size=VOCAB, max_sequence_length=512, **SIZES[size]))
    task.compile(optimizer=adamw(1e-4), **compile_options(TrainConfig()))
    return task


def keras_hub(size):
    import keras
    import keras_hub

    backbone = keras_hub.models.BertBackbone(vocabulary_size=VOCAB, max_sequence_length=512,
                                             **SIZES[size])
    task = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    task.compile(optimizer=keras.optimizers.AdamW(1e-4))  # keras-hub's defaults otherwise
    return task


def hugging_face(size, warmup, steps, dtype_policy):
    """``mixed_bfloat16`` runs the forward pass under PyTorch's CPU autocast to bfloat16,
    its counterpart of the Keras policy (weights and optimizer in float32)."""
    import contextlib

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

    if dtype_policy not in ("float32", "mixed_bfloat16"):
        raise SystemExit(f"--dtype-policy {dtype_policy}: the PyTorch run knows float32 "
                         f"and mixed_bfloat16")

    def autocast():
        if dtype_policy == "float32":
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=torch.bfloat16)

    def step():
        optimizer.zero_grad()
        with autocast():
            loss = model(input_ids=ids, labels=full_labels).loss
        loss.backward()
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
    parser.add_argument("--dtype-policy", default="float32",
                        help="Keras dtype policy of both Keras contenders, e.g. mixed_bfloat16 "
                             "(with --torch: float32 or mixed_bfloat16, as autocast)")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    if not args.torch:
        import keras

        keras.config.set_dtype_policy(args.dtype_policy)
    results, rounds, ratios, cpu, cpu_ratios = {}, {}, {}, {}, {}
    for size in SIZES:
        if args.torch:
            rate = hugging_face(size, args.warmup, args.steps, args.dtype_policy)
            results[f"huggingface_torch/{size}"] = rate
            print(f"{'huggingface_torch':18s} {size:11s} {rate:10.0f} tokens/s", flush=True)
            continue
        rates, cpu_ms = keras_rates({"cloze": cloze(size), "keras_hub": keras_hub(size)},
                                    args.warmup, args.steps, args.rounds)
        for name, values in rates.items():
            results[f"{name}/{size}"] = statistics.median(values)
            rounds[f"{name}/{size}"] = values
            cpu[f"{name}/{size}"] = cpu_ms[name]
            print(f"{name:18s} {size:11s} {statistics.median(values):10.0f} tokens/s  "
                  f"(rounds: {', '.join(f'{v:.0f}' for v in values)}; CPU ms/step: "
                  f"{', '.join(f'{v:.0f}' for v in cpu_ms[name])})", flush=True)
        ratios[size] = statistics.median(c / k for c, k in zip(rates["cloze"], rates["keras_hub"]))
        cpu_ratios[size] = statistics.median(
            k / c for c, k in zip(cpu_ms["cloze"], cpu_ms["keras_hub"]))
        print(f"{'cloze / keras_hub':18s} {size:11s} {ratios[size]:10.2f}x "
              f"(by CPU time: {cpu_ratios[size]:.2f}x)", flush=True)
    os.makedirs(args.out, exist_ok=True)
    suffix = "" if args.dtype_policy == "float32" else f"_{args.dtype_policy}"
    path = os.path.join(args.out, f"train_torch{suffix}.json" if args.torch
                        else f"train_keras{suffix}.json")
    with open(path, "w") as f:
        json.dump({"cpu_count": os.cpu_count(), "batch": BATCH, "seq": SEQ, "masks": MASKS,
                   "dtype_policy": args.dtype_policy,
                   "tokens_per_second": results, "rounds": rounds,
                   "cloze_over_keras_hub": ratios, "cpu_ms_per_step": cpu,
                   "cloze_over_keras_hub_by_cpu_time": cpu_ratios}, f, indent=2)


if __name__ == "__main__":
    main()
