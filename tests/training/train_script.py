"""Runs one training in its own process, as a preempted job would: argv = config JSON,
train pattern, eval pattern, vocabulary, output directory. ``LOGICAL_CPUS=n`` splits
the CPU into n logical devices first, to test distribution without accelerators.
A run stopped by SIGTERM prints why and exits with 143 (128 + SIGTERM), as a
job killed by the signal would, so an orchestrator reruns it."""
import os
import sys

import tensorflow as tf

from cloze.config import PipelineConfig
from cloze.training.callbacks import PREEMPTED_EXIT_CODE, TrainingPreempted
from cloze.training.trainer import TrainingOutputs, train

if __name__ == "__main__":
    if os.environ.get("LOGICAL_CPUS"):
        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0],
            [tf.config.LogicalDeviceConfiguration()] * int(os.environ["LOGICAL_CPUS"]))
    config_json, train_pattern, eval_pattern, vocabulary, out = sys.argv[1:]
    try:
        result = train(PipelineConfig.from_json(config_json), train_pattern, eval_pattern,
                       vocabulary,
                       TrainingOutputs(f"{out}/serving", f"{out}/preset", f"{out}/logs"))
    except TrainingPreempted as preempted:
        print(preempted, flush=True)
        sys.exit(PREEMPTED_EXIT_CODE)
    print("replicas", result.replicas)
