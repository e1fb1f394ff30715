"""Checks that Hugging Face loads a Cloze export with the outputs Cloze computed.

Runs in the reference environment ``.venv-hf``, on a directory written by
``tools/export_cloze_sample.py``: loads it with ``AutoModelForMaskedLM`` and
``AutoModel`` and compares logits, last hidden state and (where recorded)
pooled output; where the export has a tokenizer, also checks that
``AutoTokenizer`` loads it. Exits 1 on any mismatch.

Usage: ``.venv-hf/bin/python tools/check_hf_export.py OUT_DIR``.
"""
import os
import sys

import numpy as np
import torch
import transformers

OUTPUTS_FILE = "cloze_outputs.npz"
TOLERANCE = 1e-5
INPUT_NAMES = {"token_ids": "input_ids", "segment_ids": "token_type_ids",
               "padding_mask": "attention_mask"}


def compare(name, actual, expected):
    difference = float(np.abs(np.asarray(actual) - expected).max())
    print(f"{name}: max |difference| {difference:.2e}")
    return difference <= TOLERANCE


def main(out_dir):
    record = np.load(os.path.join(out_dir, OUTPUTS_FILE))
    if os.path.exists(os.path.join(out_dir, "vocab.txt")):
        print("tokenizer:", type(transformers.AutoTokenizer.from_pretrained(out_dir)).__name__)
    inputs = {hf: torch.from_numpy(record[cloze].astype("int64"))
              for cloze, hf in INPUT_NAMES.items() if cloze in record}
    masked_lm = transformers.AutoModelForMaskedLM.from_pretrained(out_dir).eval()
    base = transformers.AutoModel.from_pretrained(out_dir).eval()
    with torch.no_grad():
        logits = masked_lm(**inputs).logits.numpy()
        outputs = base(**inputs)
    ok = [compare("logits", logits, record["logits"]),
          compare("sequence_output", outputs.last_hidden_state.numpy(), record["sequence_output"])]
    if "pooled_output" in record:
        ok.append(compare("pooled_output", outputs.pooler_output.numpy(), record["pooled_output"]))
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main(sys.argv[1])
