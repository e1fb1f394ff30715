"""Sorted runs: items spilled by group under a byte budget, merged back in key order."""
import os
import random

import pytest

from cloze.data.shards import _WriteShardFn, keyed_record, remove_temporaries
from cloze.data.sorted_runs import SortedRunWriter, delete_runs, merge_runs


def items(keys):
    return [(key.to_bytes(4, "big"), b"payload-%d" % key) for key in keys]


def runs_by_group(runs):
    grouped = {}
    for group, path in runs:
        grouped.setdefault(group, []).append(path)
    return grouped


def one_run(directory, keys):
    writer = SortedRunWriter(str(directory))
    writer.add("g", items(keys))
    ((_, path),) = writer.flush()
    return path


def test_a_groups_runs_merge_into_ascending_key_order(tmp_path):
    keys = random.Random(0).sample(range(10_000), 300)
    writer = SortedRunWriter(str(tmp_path), budget_bytes=2_000)
    runs = []
    for start in range(0, len(keys), 25):
        runs += writer.add("g", items(keys[start:start + 25]))
    runs += writer.flush()

    assert len(runs) > 3
    assert list(merge_runs(path for _, path in runs)) == items(sorted(keys))


def test_more_runs_than_may_be_open_merge_in_passes_whose_runs_are_then_deleted(tmp_path):
    keys = random.Random(1).sample(range(10_000), 40)
    runs = [one_run(tmp_path, keys[start:start + 4]) for start in range(0, 40, 4)]

    assert list(merge_runs(runs, max_open=3)) == items(sorted(keys))
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(path) for path in runs)


def test_passing_the_budget_spills_every_groups_buffer_at_once(tmp_path):
    writer = SortedRunWriter(str(tmp_path), budget_bytes=1_000)  # about 7 items

    assert writer.add(0, items([5, 1])) == []
    assert writer.add(1, items([7])) == []
    spilled = runs_by_group(writer.add(0, items(range(10, 20))))
    rest = runs_by_group(writer.flush())

    assert sorted(spilled) == [0, 1] and sorted(rest) == [0]
    assert list(merge_runs(spilled[1])) == items([7])
    assert list(merge_runs(spilled[0] + rest[0])) == items([1, 5, *range(10, 20)])


def test_a_group_given_no_items_gets_no_run(tmp_path):
    writer = SortedRunWriter(str(tmp_path))
    writer.add("empty", [])
    writer.add("full", items([3]))

    assert [group for group, _ in writer.flush()] == ["full"]
    assert list(merge_runs([])) == []


def test_runs_of_a_bundle_that_never_finished_are_removed_with_the_temporaries(tmp_path):
    abandoned = SortedRunWriter(str(tmp_path), budget_bytes=0)
    leftovers = abandoned.add("g", items([1, 2]))
    (tmp_path / "data_tfrecord-00000-of-00001.gz").write_bytes(b"")

    assert all(os.path.exists(path) for _, path in leftovers)
    remove_temporaries([str(tmp_path)])
    assert os.listdir(tmp_path) == ["data_tfrecord-00000-of-00001.gz"]


def test_deleted_runs_are_gone(tmp_path):
    delete_runs([one_run(tmp_path, [1, 2])])
    assert os.listdir(tmp_path) == []


def test_a_truncated_run_fails_naming_its_file(tmp_path):
    path = one_run(tmp_path, [1])
    with open(path, "rb+") as f:
        f.truncate(os.path.getsize(path) - 1)

    with pytest.raises(ValueError, match=f"{path}: truncated sorted run"):
        list(merge_runs([path]))


def test_a_retried_shard_write_whose_runs_are_already_deleted_keeps_the_shard(tmp_path):
    writer = SortedRunWriter(str(tmp_path))
    writer.add(0, [keyed_record((n,), b"record %d" % n) for n in range(5)])
    runs = [path for _, path in writer.flush()]
    write = _WriteShardFn(str(tmp_path), num_shards=1)
    (shard,) = write.process((0, {"runs": runs, "shard": [None]}))
    written = open(shard, "rb").read()

    assert list(write.process((0, {"runs": runs, "shard": [None]}))) == [shard]
    assert open(shard, "rb").read() == written
    assert os.listdir(tmp_path) == [os.path.basename(shard)]


def test_a_merge_of_fewer_than_two_open_runs_is_refused(tmp_path):
    with pytest.raises(ValueError, match="max_open=1; expected at least 2"):
        list(merge_runs([], max_open=1))
