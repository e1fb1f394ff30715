"""Where one Cloze masked-LM training step spends its time, per XLA operation, on the CPU.

Not a test: run by hand. Re-runs itself with ``XLA_FLAGS`` set to emit a profiler
event for every XLA operation and to dump the optimised HLO, traces ``--steps``
steps (one step per execution) with ``tf.profiler``, and prints wall milliseconds
per step grouped by kind of operation: oneDNN matrix products (``custom-call``),
elementwise fusions, windowed reductions (by shape), dropout's random bits and
the rest. docs/training.md ("Where a BERT-small step's time goes") records a run.

    .venv/bin/python bench/train_step_profile.py --size bert_small
"""
import argparse
import collections
import glob
import os
import re
import subprocess
import sys
import tempfile

TRACE_FLAGS = "--xla_cpu_enable_xprof_traceme=true --xla_dump_hlo_as_text"


def profile(size, steps, dtype_policy, workdir):
    """Traces ``steps`` training steps; returns {XLA operation name: total picoseconds}."""
    import keras
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    import train_throughput as bench
    from cloze.config import TrainConfig
    from cloze.models import BertBackbone, MaskedLM
    from cloze.models.optimizers import adamw
    from cloze.training.trainer import compile_options

    keras.config.set_dtype_policy(dtype_policy)
    task = MaskedLM(BertBackbone(vocabulary_size=bench.VOCAB, max_sequence_length=512,
                                 **bench.SIZES[size]))
    task.compile(optimizer=adamw(1e-4),
                 **{**compile_options(TrainConfig()), "steps_per_execution": 1})
    data = bench.keras_data()
    task.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # compiles
    trace = os.path.join(workdir, "trace")
    tf.profiler.experimental.start(trace)
    task.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(glob.glob(f"{trace}/**/*.xplane.pb", recursive=True)[0], "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if line.name.startswith("host_executor"):  # XLA's operations
                for event in line.events:
                    totals[names.get(event.metadata_id, "?")] += event.duration_ps
    return totals


def kinds(hlo_dir):
    """{operation name: kind} from the largest optimised module (the training step)."""
    path = max(glob.glob(f"{hlo_dir}/*cpu_after_optimizations.txt"), key=os.path.getsize)
    kind_of = {}
    for match in re.finditer(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+) ([\w\-]+)\((.*)$",
                             open(path).read(), re.M):
        name, shape, opcode, rest = match.groups()
        if opcode == "call":  # work XLA split over threads, or a random-bits generator
            target = re.search(r"to_apply=(?:parallel_)?([\w\-]+?)\.\d", rest)
            opcode = f"call:{target.group(1) if target else '?'}"
        if "reduce-window" in opcode:
            opcode = f"{opcode} {shape.split('{')[0]}"
        if "op_type=\"ArgMax\"" in rest:
            opcode = "argmax"
        kind_of[name] = opcode
    return kind_of


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="bert_small", choices=("bert_tiny", "bert_small"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--dtype-policy", default="float32")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--workdir", help="(set by the script when it re-runs itself)")
    args = parser.parse_args()
    if args.workdir is None:
        workdir = tempfile.mkdtemp(prefix="cloze-profile-")
        env = dict(os.environ, XLA_FLAGS=f"{TRACE_FLAGS} --xla_dump_to={workdir}/hlo")
        sys.exit(subprocess.call([sys.executable, *sys.argv, "--workdir", workdir], env=env))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    totals = profile(args.size, args.steps, args.dtype_policy, args.workdir)
    kind_of = kinds(os.path.join(args.workdir, "hlo"))
    grouped, counts = collections.Counter(), collections.Counter()
    for name, picoseconds in totals.items():
        kind = kind_of.get(name, name.split(".")[0])
        grouped[kind] += picoseconds / 1e9 / args.steps
        counts[kind] += 1
    print(f"{args.size} {args.dtype_policy}: {sum(grouped.values()):.0f} ms of XLA "
          f"operations per step")
    for kind, ms in grouped.most_common(args.top):
        print(f"{ms:9.1f} ms/step  {counts[kind]:4d} ops  {kind}")


if __name__ == "__main__":
    main()
