"""Exports a perturbed copy of a golden model with ``export_hf`` for ``tools/check_hf_export.py``.

Runs in Cloze's own environment. Loads ``tests/models/hf_goldens/<MODEL_TYPE>``
with ``load_hf``, adds noise to every variable (so the export is not the golden
it came from), writes it with ``export_hf`` to ``OUT_DIR`` and, inside it,
``cloze_outputs.npz``: the golden inputs the backbone takes and Cloze's
``logits`` at every position and backbone outputs (``sequence_output``, and
``pooled_output`` where the backbone has one).

Usage: ``.venv/bin/python tools/export_cloze_sample.py MODEL_TYPE OUT_DIR``.
"""
import os
import sys

import numpy as np

from cloze.models.convert import export_hf, load_hf

GOLDENS = os.path.join(os.path.dirname(__file__), "..", "tests", "models", "hf_goldens")
OUTPUTS_FILE = "cloze_outputs.npz"


def main(model_type, out_dir, seed=7):
    task = load_hf(os.path.join(GOLDENS, model_type))
    rng = np.random.default_rng(seed)
    for variable in task.weights:
        variable.assign(variable.numpy() + rng.normal(0, 0.05, variable.shape).astype("float32"))
    export_hf(task, out_dir)
    golden = np.load(os.path.join(GOLDENS, f"{model_type}.npz"))
    inputs = {name: golden[name] for name in task.backbone.input}
    batch, length = inputs["token_ids"].shape
    positions = np.tile(np.arange(length, dtype="int32"), (batch, 1))
    outputs = {name: np.asarray(value) for name, value in task.backbone(inputs).items()}
    np.savez(os.path.join(out_dir, OUTPUTS_FILE), **inputs, **outputs,
             logits=np.asarray(task({**inputs, "mask_positions": positions})))
    print(f"wrote {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
