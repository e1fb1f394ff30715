"""The TF Serving layout: versioned pushes with warmup requests from real examples.

A push lays a model out as TF Serving's file-system source expects it, with the
keras-hub-style preset beside it (TF Serving ignores names that are not integers)::

    <base>/<model name>/<version>/              the SavedModel
    <base>/<model name>/<version>/assets.extra/tf_serving_warmup_requests
    <base>/<model name>/presets/<version>/      the preset

Both are written under a temporary name and renamed into place, preset first,
so a server polling ``<base>/<model name>`` never sees a half-written version.
(Renaming a directory is atomic on POSIX file systems, not on object stores.)
"""
import dataclasses
import os
import time
import uuid
from typing import Iterable, Iterator, List, Optional

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from cloze.export.saved_model import SERVING_SIGNATURE, TF_EXAMPLE_SIGNATURE, parse_examples

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# TensorFlow's checksums of the graph and the variables, written beside saved_model.pb.
FINGERPRINT_FILE = "fingerprint.pb"
PRESETS_DIR = "presets"
# Warmup requests per signature, and examples per request.
WARMUP_REQUESTS = 2
WARMUP_BATCH_SIZE = 4


@dataclasses.dataclass(frozen=True)
class Push:
    """Where a push put the model: its version, SavedModel and preset directories."""

    version: int
    saved_model_dir: str
    preset_dir: Optional[str]


def read_records(file_pattern: str, limit: Optional[int] = None) -> Iterator[bytes]:
    """Serialized records of the TFRecord files (``.gz``: gzipped), in order, at most ``limit``.

    Example:
    >>> list(read_records("/no/such/*.gz", 2))
    Traceback (most recent call last):
    ...
    FileNotFoundError: no TFRecord files match /no/such/*.gz
    """
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {file_pattern}")
    count = 0
    for path in files:
        compression = "GZIP" if path.endswith(".gz") else ""
        for record in tf.data.TFRecordDataset(path, compression_type=compression):
            if count == limit:
                return
            count += 1
            yield record.numpy()


def warmup_requests(model_name: str, examples: List[bytes]
                    ) -> List[prediction_log_pb2.PredictionLog]:
    """Predict requests for ``serving_default`` and ``tf_example`` built from ``examples``.

    Example:
    >>> from cloze.data.features import make_example
    >>> record = make_example([2, 4, 3], [1], [5], 4, 1).SerializeToString()
    >>> logs = warmup_requests("cloze", [record])
    >>> [(log.predict_log.request.model_spec.signature_name,
    ...   sorted(log.predict_log.request.inputs)) for log in logs]
    [('serving_default', ['mask_positions', 'padding_mask', 'segment_ids', 'token_ids']), \
('tf_example', ['examples'])]
    """
    logs = []
    for start in range(0, min(len(examples), WARMUP_REQUESTS * WARMUP_BATCH_SIZE),
                       WARMUP_BATCH_SIZE):
        batch = examples[start:start + WARMUP_BATCH_SIZE]
        parsed = parse_examples(tf.constant(batch))
        tensors = {name: value.numpy() for name, value in parsed.items()}
        for signature, inputs in ((SERVING_SIGNATURE, tensors),
                                  (TF_EXAMPLE_SIGNATURE, {"examples": np.array(batch, object)})):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            logs.append(prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(saved_model_dir: str, model_name: str, examples: List[bytes]) -> str:
    """Writes ``assets.extra/tf_serving_warmup_requests`` into the SavedModel; returns its path.

    Raises:
        ValueError: ``examples`` is empty.
    """
    if not examples:
        raise ValueError(f"no examples to build warmup requests for {saved_model_dir} from")
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in warmup_requests(model_name, examples):
            writer.write(log.SerializeToString())
    return path


def versions(model_base: str) -> List[int]:
    """The integer versions under ``<base>/<model name>``, ascending.

    Example:
    >>> versions("/no/such/model")
    []
    """
    if not tf.io.gfile.isdir(model_base):
        return []
    return sorted(int(name.rstrip("/")) for name in tf.io.gfile.listdir(model_base)
                  if name.rstrip("/").isdigit())


def pushed_version_of(saved_model_dir: str, model_base: str) -> Optional[int]:
    """The newest version under ``model_base`` holding the same SavedModel, by ``fingerprint.pb``.

    Lets a re-run that blessed an unchanged model skip pushing it again.

    Example:
    >>> pushed_version_of("/no/such/model", "/no/such/base") is None
    True
    """
    source = os.path.join(saved_model_dir, FINGERPRINT_FILE)
    if not tf.io.gfile.exists(source):
        return None
    with tf.io.gfile.GFile(source, "rb") as f:
        fingerprint = f.read()
    for version in reversed(versions(model_base)):
        pushed = os.path.join(model_base, str(version), FINGERPRINT_FILE)
        if tf.io.gfile.exists(pushed):
            with tf.io.gfile.GFile(pushed, "rb") as f:
                if f.read() == fingerprint:
                    return version
    return None


def next_version(model_base: str) -> int:
    """The Unix time in seconds, as TFX's Pusher, or one above the newest version if later."""
    return max([int(time.time())] + [v + 1 for v in versions(model_base)])


def copy_tree(source: str, destination: str) -> None:
    """Copies a directory tree with ``tf.io.gfile`` (any file system TensorFlow reads)."""
    for directory, _, files in tf.io.gfile.walk(source):
        target = os.path.join(destination, os.path.relpath(directory, source))
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(os.path.join(directory, name), os.path.join(target, name),
                             overwrite=True)


def _place(source: str, parent: str, version: int, prepare=None) -> str:
    """Copies ``source`` to ``parent/<tmp>``, lets ``prepare`` add to it, renames it to
    ``parent/<version>``."""
    final = os.path.join(parent, str(version))
    if tf.io.gfile.exists(final):
        raise FileExistsError(f"version {version} already exists at {final}")
    staging = os.path.join(parent, f".tmp-{version}-{uuid.uuid4().hex}")
    copy_tree(source, staging)
    if prepare is not None:
        prepare(staging)
    tf.io.gfile.rename(staging, final)
    return final


def push(saved_model_dir: str, base_dir: str, model_name: str,
         preset_dir: Optional[str] = None, warmup_examples: Iterable[bytes] = (),
         version: Optional[int] = None) -> Push:
    """Pushes a SavedModel (and its preset) to ``<base>/<model name>/<version>/``.

    Args:
        saved_model_dir: the SavedModel to push.
        base_dir: TF Serving's base path; the model goes to ``<base_dir>/<model_name>``.
        model_name: the name clients ask TF Serving for.
        preset_dir: the preset, pushed to ``<base>/<model name>/presets/<version>``.
        warmup_examples: serialized masked-LM examples; when given, warmup
            requests built from them are written into the pushed SavedModel.
        version: the version number; default: ``next_version``.

    Example:
    >>> import tempfile
    >>> from cloze.models import BertBackbone, MaskedLM
    >>> from cloze.export.saved_model import export_saved_model
    >>> model = export_saved_model(MaskedLM(BertBackbone(20, 1, 1, 4, 8, max_sequence_length=8)),
    ...                            tempfile.mkdtemp())
    >>> base = tempfile.mkdtemp()
    >>> pushed = push(model, base, "cloze", version=7)
    >>> os.path.relpath(pushed.saved_model_dir, base), versions(os.path.join(base, "cloze"))
    ('cloze/7', [7])
    """
    model_base = os.path.join(base_dir, model_name)
    version = next_version(model_base) if version is None else version
    warmup_examples = list(warmup_examples)
    pushed_preset = None
    if preset_dir is not None:
        pushed_preset = _place(preset_dir, os.path.join(model_base, PRESETS_DIR), version)

    def add_warmup(staging):
        if warmup_examples:
            write_warmup_requests(staging, model_name, warmup_examples)

    pushed_model = _place(saved_model_dir, model_base, version, add_warmup)
    return Push(version=version, saved_model_dir=pushed_model, preset_dir=pushed_preset)
