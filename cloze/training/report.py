"""The training report written next to the model: curves, config and throughput."""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

REPORT_PNG = "training_report.png"
REPORT_JSON = "training_report.json"


def write_training_report(directory: str, history: dict, config: dict, throughput: dict) -> str:
    """Writes loss and accuracy against steps (train and eval) as PNG, plus a JSON
    with the same numbers, the config and the throughput; returns the PNG path.

    Example:
    >>> import tempfile
    >>> path = write_training_report(tempfile.mkdtemp(),
    ...     {"step": [10, 20], "loss": [5.0, 4.0], "accuracy": [0.1, 0.2]}, {}, {})
    >>> os.path.basename(path)
    'training_report.png'
    """
    os.makedirs(directory, exist_ok=True)
    steps = history.get("step", [])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label in (("", "train"), ("val_", "eval")):
            values = history.get(prefix + metric)
            if values:
                axis.plot(steps[-len(values):], values, marker="o", label=label)
        axis.set_xlabel("step")
        axis.set_title("masked-LM " + ("loss" if metric == "loss" else "token accuracy"))
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    path = os.path.join(directory, REPORT_PNG)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    with open(os.path.join(directory, REPORT_JSON), "w", encoding="utf-8") as f:
        json.dump({"history": history, "config": config, "throughput": throughput}, f, indent=2)
    return path
