"""BERT-base masked-LM training throughput and model FLOPs utilisation on one GPU.

Not a test: run by hand on a GPU machine. Cloze's ``BertBackbone`` and
``MaskedLMHead`` (the layers the trainer uses, which are written in ``keras.ops``
only) train under Keras on the JAX backend in ``mixed_bfloat16`` at seq 128 with
20 masked positions per sequence, AdamW, dropout 0.1 or none, one jitted step
with the batch already on the device (compilation excluded). Hugging Face transformers'
``BertForMaskedLM`` on PyTorch (bf16 autocast, same batch) runs in the same
process as the peer. The GPU image of this workplace has JAX and PyTorch but no
TensorFlow, hence the backend; docs/training.md records the result.

MFU counts the matrix products a step needs: per layer the Q, K, V and output
projections, the two feed-forward products and the two attention products over
all positions, plus the head's transform and vocabulary projection at the
masked positions only; a training step is three forward passes' worth (the
backward pass is two). The peak is the chip's dense bf16 rate.

    KERAS_BACKEND=jax python bench/gpu_mfu.py --batch 256 512          # on the GPU
    XLA_PYTHON_CLIENT_PREALLOCATE=false KERAS_BACKEND=jax \
        python bench/gpu_mfu.py --batch 256 --runs hf_torch hf_torch_compiled
    KERAS_BACKEND=jax python bench/gpu_mfu.py --tiny --steps 2         # smoke run on a CPU
"""
import argparse
import functools
import json
import os
import time

BASE = dict(num_layers=12, hidden_dim=768, num_heads=12, intermediate_dim=3072)
TINY = dict(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512)
VOCAB, SEQ, MASKS = 30522, 128, 20
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense, SXM


def step_flops(num_layers, hidden_dim, intermediate_dim, **_):
    """Matrix-product FLOPs of one training step of one sequence (see module doc)."""
    per_layer = (4 * 2 * SEQ * hidden_dim * hidden_dim
                 + 2 * 2 * SEQ * hidden_dim * intermediate_dim
                 + 2 * 2 * SEQ * SEQ * hidden_dim)
    head = 2 * MASKS * hidden_dim * hidden_dim + 2 * MASKS * hidden_dim * VOCAB
    return 3 * (num_layers * per_layer + head)


def batch(size, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return (rng.integers(5, VOCAB, (size, SEQ)).astype("int32"),
            np.sort(rng.choice(np.arange(1, SEQ - 1), (size, MASKS)), axis=1).astype("int32"),
            rng.integers(5, VOCAB, (size, MASKS)).astype("int32"))


def cloze_rate(dims, batch_size, warmup, steps, flash, dropout):
    """Sequences per second of Cloze's backbone + head, one jitted stateless step."""
    import jax
    import keras
    import numpy as np

    from cloze.models import BertBackbone, MaskedLMHead

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if flash:
        keras.config.enable_flash_attention()
    backbone = BertBackbone(vocabulary_size=VOCAB, dropout=dropout, **dims)
    head = MaskedLMHead(token_embedding=backbone.token_embedding, intermediate_activation="gelu")
    inputs = dict(backbone.input, mask_positions=keras.Input((MASKS,), dtype="int32", name="mask_positions"))
    logits = head(backbone(backbone.input)["sequence_output"], inputs["mask_positions"])
    model = keras.Model(inputs, logits)
    optimizer = keras.optimizers.AdamW(1e-4)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss_of(trainable, non_trainable, x, y):
        out, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, out), non_trainable

    @jax.jit
    def train_step(state, x, y):
        trainable, non_trainable, opt = state
        (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(
            trainable, non_trainable, x, y)
        trainable, opt = optimizer.stateless_apply(opt, grads, trainable)
        return loss, (trainable, non_trainable, opt)

    ids, positions, labels = batch(batch_size)
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids),
         "padding_mask": np.ones_like(ids), "mask_positions": positions}
    x, y = jax.device_put(x), jax.device_put(labels)
    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])
    first = None
    for _ in range(warmup):
        loss, state = train_step(state, x, y)
        first = float(loss) if first is None else first
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(steps):
        loss, state = train_step(state, x, y)
    jax.block_until_ready(state)
    elapsed = time.perf_counter() - start
    return batch_size * steps / elapsed, {"first_loss": first, "last_loss": float(loss)}


def torch_rate(dims, batch_size, warmup, steps, compiled):
    """Sequences per second of Hugging Face BertForMaskedLM, bf16 autocast, AdamW."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=VOCAB, hidden_size=dims["hidden_dim"],
                        num_hidden_layers=dims["num_layers"],
                        num_attention_heads=dims["num_heads"],
                        intermediate_size=dims["intermediate_dim"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = BertForMaskedLM(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device == "cuda")
    ids, positions, labels = (torch.from_numpy(a).long().to(device) for a in batch(batch_size))
    full_labels = torch.full_like(ids, -100).scatter_(1, positions, labels)
    forward = torch.compile(model) if compiled else model

    def step():
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = forward(input_ids=ids, labels=full_labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - start), {}


def peak_flops():
    import jax

    kind = jax.devices()[0].device_kind
    return kind, next((v for k, v in PEAK_BF16_FLOPS.items() if k in kind), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[256])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="BERT-tiny, for a smoke run")
    parser.add_argument("--runs", nargs="+", default=["cloze", "cloze_flash"],
                        choices=["cloze", "cloze_flash", "hf_torch", "hf_torch_compiled"],
                        help="cloze_flash: cuDNN flash attention, no dropout; "
                             "hf_torch*: the Hugging Face peer, eager or torch.compile'd")
    args = parser.parse_args()
    assert os.environ.get("KERAS_BACKEND") == "jax", "run with KERAS_BACKEND=jax"
    dims = TINY if args.tiny else BASE
    kind, peak = peak_flops()
    flops = step_flops(**dims)
    makers = {
        "cloze": functools.partial(cloze_rate, flash=False, dropout=0.1),
        "cloze_flash": functools.partial(cloze_rate, flash=True, dropout=0.0),
        "hf_torch": functools.partial(torch_rate, compiled=False),
        "hf_torch_compiled": functools.partial(torch_rate, compiled=True),
    }
    runs = [(name, size, functools.partial(makers[name], dims, size, args.warmup, args.steps))
            for size in args.batch for name in args.runs]
    for name, size, run in runs:
        try:
            rate, extra = run()
        except Exception as error:  # one failing variant must not lose the others' numbers
            print(json.dumps({"run": name, "batch": size, "error": repr(error)[:500]}), flush=True)
            continue
        report(name, size, rate, flops, peak, kind, **extra)


def report(name, batch_size, sequences_per_s, flops, peak, kind, **extra):
    achieved = sequences_per_s * flops
    print(json.dumps({"run": name, "device": kind, "batch": batch_size,
                      "tokens_per_s": round(sequences_per_s * SEQ),
                      "tflops": round(achieved / 1e12, 1),
                      "mfu": round(achieved / peak, 3) if peak else None, **extra}), flush=True)


if __name__ == "__main__":
    main()
