"""Data-stage throughput: Cloze's Beam job against Hugging Face datasets + tokenizers.

Not a test. Both contenders turn the same plain-text corpus into sequences of
128 tokens with 15% static masking, with the same WordPiece vocabulary,
in the same run, one after the other:

* ``cloze``: ``make_masked_lm_examples_from_corpus`` (text -> full_sentences
  packing -> masking -> gzipped TFRecord shards in one Beam job), on the
  DirectRunner in ``--running-mode`` (``in_memory`` by default: one process;
  the other modes use 2 workers).
* ``hf``: ``datasets.load_dataset("text", sample_by="paragraph")`` ->
  ``map(tokenize, num_proc=2)`` with a ``tokenizers`` BertWordPiece tokenizer ->
  ``group_texts`` (run_mlm.py's, which drops the tail of each batch) -> 15%
  masking with 80/10/10 in numpy -> ``save_to_disk``, 2 processes.

Each contender runs in its own process; peak RSS is the largest sum of the RSS
of that process and all its descendants (workers included), sampled every
0.2 s from /proc. Reported: wall seconds, CPU seconds (user + system of the
whole process tree: on a shared machine, what each really used), MB/s of
input text, tokens/s, peak RSS, and Cloze's speed-up over HF (by wall time).
``--scales 1 10`` runs everything on 1x and 10x of ``--mb`` to show how peak
RSS grows with the corpus; ``--repeat`` compares several times. Cloze's tokens
are counted from its output after the timing.

Usage (from the repository root; ``.venv-bench`` holds datasets and tokenizers)::

    .venv/bin/python bench/data_throughput.py --mb 5 --scales 1 10 \\
        --work /tmp/cloze-bench --hf-python .venv-bench/bin/python
    .venv/bin/python bench/data_throughput.py --mb 50 --repeat 3  # the speed-up, 52 MB
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SEQ = 128


def make_corpus(work: str, megabytes: int, files: int = 1) -> tuple[str, str]:
    """The built-in corpus (3 MB of stdlib prose) repeated to ``megabytes``, and its vocabulary.

    With ``files`` > 1 the corpus is a directory of that many files, each of
    ``megabytes / files``.
    """
    import apache_beam as beam

    from cloze.config import VocabConfig
    from cloze.data.default_corpus import write_default_corpus
    from cloze.data.jobs import learn_vocabulary

    corpus_dir = os.path.join(work, "corpus")
    path = os.path.join(corpus_dir, f"corpus-{megabytes}mb" + (
        f"-{files}files" if files > 1 else ".txt"))
    vocab = os.path.join(work, "vocab.txt")
    if os.path.exists(path) and os.path.exists(vocab):
        return path, vocab
    seed_dir = write_default_corpus(os.path.join(work, "seed"), max_bytes=3_000_000)
    with open(os.path.join(seed_dir, os.listdir(seed_dir)[0]), "rb") as f:
        block = f.read()
    os.makedirs(path if files > 1 else corpus_dir, exist_ok=True)
    for number in range(files):
        with open(os.path.join(path, f"part-{number:04d}.txt") if files > 1 else path, "wb") as f:
            written = 0
            while written < megabytes * 1_000_000 / files:
                f.write(block)
                written += len(block)
    if os.path.exists(vocab):
        return path, vocab
    # The vocabulary is learned once from the seed corpus, outside the timings.
    import tensorflow as tf

    from cloze.data.corpus import Document
    from cloze.data.features import make_document_example

    records = os.path.join(work, "seed_records.gz")
    with tf.io.TFRecordWriter(records, options="GZIP") as writer:
        for number, text in enumerate(block.decode("utf-8").split("\n\n")):
            if text.strip():
                writer.write(make_document_example(Document(f"d:{number}", text))
                             .SerializeToString())
    learn_vocabulary(beam.Pipeline(), records, VocabConfig(vocab_size=8000), vocab)
    return path, vocab


def run_cloze(corpus: str, vocab: str, out: str, running_mode: str) -> int:
    """The Cloze text-to-examples job on ``running_mode``; returns the sequences written."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from cloze.config import CorpusConfig, DataConfig, VocabConfig
    from cloze.data.jobs import make_masked_lm_examples_from_corpus

    options = {"direct_running_mode": running_mode}
    if running_mode != "in_memory":
        options["direct_num_workers"] = 2
    config = DataConfig(max_seq_length=SEQ, eval_percent=0, num_shards=8, packing_buckets=16)
    counts = make_masked_lm_examples_from_corpus(
        beam.Pipeline(options=PipelineOptions(**options)), CorpusConfig(paths=(corpus,)), vocab,
        VocabConfig(), config, out)
    return counts["sequences_written_train"]


def count_tokens(examples_dir: str) -> int:
    """The real (non-padding) tokens of the train split, counted after the timing."""
    import tensorflow as tf

    files = tf.io.gfile.glob(os.path.join(examples_dir, "Split-train", "*"))
    spec = {"input_mask": tf.io.FixedLenFeature([SEQ], tf.int64)}
    return sum(int(tf.io.parse_example(batch, spec)["input_mask"].numpy().sum())
               for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096))


HF_SCRIPT = r'''
import json, os, sys
import numpy as np
from datasets import load_dataset
from tokenizers import BertWordPieceTokenizer

corpus, vocab, out, seq = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tokenizer = BertWordPieceTokenizer(vocab, lowercase=True)
special = [tokenizer.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
cls_id, sep_id, mask_id = special[2], special[3], special[4]
vocab_size = tokenizer.get_vocab_size()

def tokenize(batch):
    encodings = tokenizer.encode_batch(batch["text"], add_special_tokens=False)
    return {"input_ids": [e.ids for e in encodings]}

def group_texts(batch):
    # run_mlm.py's group_texts: concatenate, drop the remainder of the batch.
    ids = [t for row in batch["input_ids"] for t in row]
    body = seq - 2
    total = (len(ids) // body) * body
    return {"input_ids": [[cls_id] + ids[i:i + body] + [sep_id] for i in range(0, total, body)]}

def mask(batch, indices):
    rng = np.random.default_rng(indices[0])
    ids = np.array(batch["input_ids"], dtype=np.int64)
    labels = np.full_like(ids, -100)
    candidates = ~np.isin(ids, special)
    chosen = (rng.random(ids.shape) < 0.15) & candidates
    labels[chosen] = ids[chosen]
    action = rng.random(ids.shape)
    ids[chosen & (action < 0.8)] = mask_id
    randomize = chosen & (action >= 0.8) & (action < 0.9)
    ids[randomize] = rng.integers(5, vocab_size, size=int(randomize.sum()))
    return {"input_ids": ids.tolist(), "labels": labels.tolist()}

files = sorted(os.path.join(corpus, n) for n in os.listdir(corpus)) if os.path.isdir(corpus) \
    else corpus
data = load_dataset("text", data_files=files, sample_by="paragraph", split="train",
                    cache_dir=os.path.join(out, "cache"))
data = data.map(tokenize, batched=True, num_proc=2, remove_columns=["text"])
data = data.map(group_texts, batched=True, num_proc=2)
data = data.map(mask, batched=True, with_indices=True, num_proc=2)
data.save_to_disk(os.path.join(out, "saved"), num_proc=2)
print(json.dumps({"tokens": len(data) * seq, "sequences": len(data)}))
'''


def peak_tree_rss(pid: int) -> int:
    """The summed RSS in bytes of ``pid`` and all its descendants, now."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def measure(command: list[str], env=None) -> dict:
    """Runs ``command``, sampling its process tree's RSS.

    Returns wall seconds, CPU seconds (user + system of the whole tree, as
    reaped), peak RSS and stdout.
    """
    cpu_before = _children_cpu_s()
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, peak_tree_rss(process.pid))
        time.sleep(0.2)
    wall = time.monotonic() - start
    output = process.stdout.read()
    if process.returncode:
        raise SystemExit(f"{command[:3]} failed with exit status {process.returncode}")
    return {"wall_s": wall, "cpu_s": _children_cpu_s() - cpu_before, "peak_rss_mb": peak / 1e6,
            "stdout": output}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1,
                        help="cut the corpus into this many files (a directory)")
    parser.add_argument("--mb", type=int, default=50,
                        help="corpus size in MB, times each --scales (report >= 50 MB)")
    parser.add_argument("--work", default="/tmp/cloze-bench")
    parser.add_argument("--hf-python", default=".venv-bench/bin/python",
                        help="a Python with datasets and tokenizers installed")
    parser.add_argument("--only", choices=["cloze", "hf"], help="run one contender")
    parser.add_argument("--running-mode", default="in_memory",
                        choices=["in_memory", "multi_threading", "multi_processing"],
                        help="the DirectRunner mode of Cloze's job (2 workers unless in_memory)")
    parser.add_argument("--scales", type=int, nargs="+", default=[1],
                        help="run on these multiples of --mb, e.g. 1 10 for peak RSS vs size")
    parser.add_argument("--repeat", type=int, default=1,
                        help="compare this many times per scale (on a shared machine, compare "
                             "the speed-up within each repetition)")
    parser.add_argument("--run-cloze", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_cloze:
        print(json.dumps({"sequences": run_cloze(*args.run_cloze)}))
        return
    report = []
    for scale in args.scales:
        corpus, vocab = make_corpus(args.work, args.mb * scale, args.files)
        report.extend(compare(corpus, vocab, args) for _ in range(args.repeat))
    print(json.dumps(report, indent=2))


def compare(corpus: str, vocab: str, args) -> dict:
    """Both contenders (or ``args.only``) on ``corpus``, one after the other."""
    size_mb = sum(os.path.getsize(os.path.join(corpus, name)) for name in os.listdir(corpus)
                  ) / 1e6 if os.path.isdir(corpus) else os.path.getsize(corpus) / 1e6
    outputs = {name: os.path.join(args.work, f"{name}-{time.time_ns()}")
               for name in ("cloze", "hf")}
    contenders = {
        "cloze": [sys.executable, __file__, "--run-cloze", corpus, vocab, outputs["cloze"],
                  args.running_mode],
        "hf": [args.hf_python, "-c", HF_SCRIPT, corpus, vocab, outputs["hf"], str(SEQ)],
    }
    results, load_before = {}, os.getloadavg()
    for name, command in contenders.items():
        if args.only and name != args.only:
            continue
        result = measure(command)
        output = json.loads(result.pop("stdout").strip().splitlines()[-1])
        tokens = output["tokens"] if name == "hf" else count_tokens(outputs["cloze"])
        results[name] = {"wall_s": round(result["wall_s"], 1), "cpu_s": round(result["cpu_s"], 1),
                         "MB_per_s": round(size_mb / result["wall_s"], 3),
                         "tokens_per_s": round(tokens / result["wall_s"]),
                         "tokens": tokens, "peak_rss_mb": round(result["peak_rss_mb"])}
        print(name, json.dumps(results[name]), flush=True)
    if len(results) == 2:
        results["cloze_speedup_over_hf"] = round(results["hf"]["wall_s"]
                                                 / results["cloze"]["wall_s"], 2)
    return {"corpus_mb": round(size_mb, 1), "seq": SEQ, "cpus": os.cpu_count(),
            "running_mode": args.running_mode, "load_average_before": load_before,
            "load_average_after": os.getloadavg(), "results": results}


if __name__ == "__main__":
    main()
