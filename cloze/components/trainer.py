"""The ``run_fn`` the stock TFX Trainer calls: one function into ``cloze.training``."""
import os

from cloze.config import PipelineConfig
from cloze.data.tokenizers import tokenizer_files
from cloze.training.trainer import TrainingOutputs, train

CONFIG_KEY = "cloze_config"
PRESET_DIR = "Format-Preset"


def examples_root(file_pattern: str) -> str:
    """``<examples uri>/Split-train/*`` -> ``<examples uri>``."""
    return os.path.dirname(os.path.dirname(file_pattern))


def preset_dir(serving_model_dir: str) -> str:
    """The preset sits beside ``Format-Serving`` in the Model artifact."""
    return os.path.join(os.path.dirname(serving_model_dir), PRESET_DIR)


def run_fn(fn_args) -> None:
    """Trains on ``fn_args.train_files``, writes the SavedModel to ``serving_model_dir``
    and the keras-hub-style preset beside it."""
    config = PipelineConfig.from_json(fn_args.custom_config[CONFIG_KEY])
    train(config,
          train_pattern=fn_args.train_files[0],
          eval_pattern=fn_args.eval_files[0],
          vocabulary=tokenizer_files(config.vocab.tokenizer,
                                     examples_root(fn_args.train_files[0]))[0],
          outputs=TrainingOutputs(serving_dir=fn_args.serving_model_dir,
                                  preset_dir=preset_dir(fn_args.serving_model_dir),
                                  log_dir=fn_args.model_run_dir))
