"""Runs one training in its own process, as a preempted job would: argv = config JSON,
train pattern, eval pattern, vocabulary, output directory."""
import sys

from cloze.config import PipelineConfig
from cloze.training.trainer import TrainingOutputs, train

if __name__ == "__main__":
    config_json, train_pattern, eval_pattern, vocabulary, out = sys.argv[1:]
    train(PipelineConfig.from_json(config_json), train_pattern, eval_pattern, vocabulary,
          TrainingOutputs(f"{out}/serving", f"{out}/preset", f"{out}/logs"))
