"""``manifest.json``: what made a data directory, written beside the data.

The document records' manifest lists the corpus files (path, size, sha256 of
the bytes as stored), the corpus config and the ingest counts. The masked-LM
examples' manifest repeats those and adds the data config, the seed, the
vocabulary's sha256 and size, and the example counts, so a directory of shards
says exactly how to make it again.
"""
from __future__ import annotations

import hashlib
import json

import apache_beam as beam
import tensorflow as tf
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

MANIFEST_FILE = "manifest.json"
_CHUNK_BYTES = 1 << 20


def file_digest(path: str) -> dict:
    """``{"path", "bytes", "sha256"}`` of a file as stored (compressed files not expanded).

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> _ = open(path, "w").write("abc")
    >>> file_digest(path)["sha256"][:16], file_digest(path)["bytes"]
    ('ba7816bf8f01cfea', 3)
    """
    digest, size = hashlib.sha256(), 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"path": path, "bytes": size, "sha256": digest.hexdigest()}


class HashFiles(beam.PTransform):
    """File paths -> one JSON line listing ``file_digest`` of each, sorted by path, written to ``output_path``.

    Files are hashed in parallel; the job's driver reads the list back with
    ``read_json`` into its manifest.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("b", "a"):
    ...     _ = open(os.path.join(root, name), "w").write(name)
    >>> with beam.Pipeline() as p:
    ...     _ = (p | beam.Create([os.path.join(root, n) for n in "ba"])
    ...          | HashFiles(os.path.join(root, "inputs.json")))
    >>> [os.path.basename(f["path"]) for f in read_json(os.path.join(root, "inputs.json"))]
    ['a', 'b']
    """

    def __init__(self, output_path: str):
        super().__init__()
        self._output_path = output_path

    def expand(self, paths):
        return (paths
                | "Spread" >> beam.Reshuffle()
                | "Digest" >> beam.Map(file_digest)
                | "Gather" >> beam.combiners.ToList()
                | "Sort" >> beam.Map(lambda files: json.dumps(sorted(files, key=lambda f: f["path"])))
                | "Write" >> beam.io.WriteToText(self._output_path, shard_name_template="",
                                                 num_shards=1))


def read_json(path: str):
    """The JSON value stored in ``path`` (any filesystem TensorFlow can read).

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> write_json(path, {"seed": 1})
    >>> read_json(path)
    {'seed': 1}
    """
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def write_json(path: str, value) -> None:
    """Writes ``value`` as indented JSON with sorted keys, so equal values give equal bytes."""
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")

