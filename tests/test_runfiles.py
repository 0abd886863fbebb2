"""A run's files are one unit: no kill, full disk or error leaves files of two runs, or a replaced file the error
does not mention."""
import errno
import json

import pytest

from chainrule import runfiles
from chainrule.model_io import ModelFileError, load_model, model_bytes
from chainrule.nets import TwoLayerNet


def files(seed):
    return {"model.npz": model_bytes(TwoLayerNet(4, 3, 2, seed=seed)),
            "metrics.json": json.dumps({"run": seed}).encode()}


def test_a_commit_writes_all_files_and_the_manifest(tmp_path):
    runfiles.commit(tmp_path, files(1))
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"run": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "model.npz", "run.json"]
    load_model(tmp_path / "model.npz")


def test_a_run_killed_after_its_commit_is_completed_by_the_next_reader(tmp_path, monkeypatch):
    runfiles.commit(tmp_path, files(1))
    monkeypatch.setattr(runfiles, "recover", lambda out: None)          # killed right after the manifest
    runfiles.commit(tmp_path, files(2))
    monkeypatch.undo()
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"run": 1}   # not yet renamed
    net, _ = load_model(tmp_path / "model.npz")                           # the reader completes the commit
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"run": 2}
    assert not list(tmp_path.glob(".*.staged"))


def test_a_run_killed_before_its_commit_leaves_the_old_files(tmp_path):
    runfiles.commit(tmp_path, files(1))
    before = (tmp_path / "model.npz").read_bytes()
    (tmp_path / ".model.npz.deadbeef0000.staged").write_bytes(b"half")      # staged, never committed
    load_model(tmp_path / "model.npz")
    assert (tmp_path / "model.npz").read_bytes() == before and not list(tmp_path.glob(".*.staged"))


def test_a_full_disk_replaces_nothing_and_says_so(tmp_path, monkeypatch):
    runfiles.commit(tmp_path, files(1))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_open, calls = open, []

    def full_disk(path, mode="r", *a, **k):
        if "staged" in str(path):
            calls.append(path)
            if len(calls) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **k)
    monkeypatch.setattr("builtins.open", full_disk)
    with pytest.raises(OSError, match="nothing was replaced"):
        runfiles.commit(tmp_path, files(2))
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_model_of_another_run_beside_the_manifest_is_refused(tmp_path):
    runfiles.commit(tmp_path, files(1))
    (tmp_path / "model.npz").write_bytes(files(2)["model.npz"])
    with pytest.raises(ModelFileError, match="holds files of two runs"):
        load_model(tmp_path / "model.npz")
