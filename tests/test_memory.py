"""Memory is checked before it is spent: specs, model files and predictions are estimated and refused with the
estimate and the limit (a documented default, overridable); compressed model members are refused."""
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from chainrule import memory
from chainrule.model_io import ModelFileError, load_model, save_model
from chainrule.nets import LayerNet, TwoLayerNet


@pytest.fixture
def small_limit():
    memory.set_limit("256M")
    yield
    memory.set_limit(None)


def test_a_legal_spec_too_big_for_memory_is_refused_before_allocating(small_limit):
    with pytest.raises(memory.MemoryLimitError, match=r"would need about .* GB, more than the memory limit of 256 MB"):
        LayerNet((1, 8, 8), "conv(600000,3)", 10)                     # 220 million weights: refused, not drawn
    with pytest.raises(ValueError, match="refusing to allocate it"):
        LayerNet((1, 28, 28), "conv(60000000,3)-pool(6)", 10)


def test_prediction_batches_shrink_to_fit_or_are_refused(small_limit):
    net = LayerNet((1, 28, 28), "conv(256,3,pad=1)-pool(28)", 10, seed=0)
    one = memory.per_sample_bytes(net.planned, 8, training=False)
    assert memory.fit_batch(net.planned, 8, 10000) == int((memory.limit() - memory.parameter_bytes(net.planned, 8))
                                                          // one) < 10000
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    assert net.predict_classes(x).shape == (3,)                           # in batches that fit
    memory.set_limit(one // 2)
    with pytest.raises(memory.MemoryLimitError, match="prediction of one sample"):
        net.predict_classes(x)


def test_the_limit_is_documented_and_can_be_set(monkeypatch):
    monkeypatch.setenv("CHAINRULE_MEMORY_LIMIT", "3G")
    assert memory.limit() == 3 * 2 ** 30
    monkeypatch.delenv("CHAINRULE_MEMORY_LIMIT")
    assert memory.limit() > 0
    assert memory.parse_size("512M") == 512 * 2 ** 20 and memory.parse_size("1000") == 1000
    with pytest.raises(ValueError, match="memory size"):
        memory.parse_size("lots")


def _rewrite(path, change):
    """Copy a model file's entries into a new archive, through ``change(name, data, compress)``."""
    with zipfile.ZipFile(path) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in entries:
            name, data, compress = change(name, data)
            z.writestr(name, data, compress_type=compress)
    path.write_bytes(buffer.getvalue())


def test_compressed_and_truncated_members_are_refused_by_name(tmp_path):
    path = tmp_path / "m.npz"
    save_model(path, TwoLayerNet(4, 3, 2))
    _rewrite(path, lambda n, d: (n, d, zipfile.ZIP_DEFLATED))
    with pytest.raises(ModelFileError, match="is compressed"):
        load_model(path)
    save_model(path, TwoLayerNet(4, 3, 2))
    _rewrite(path, lambda n, d: (n, d[:-40] if n == "param/W1.npy" else d, zipfile.ZIP_STORED))
    with pytest.raises(ModelFileError, match=r"entry 'param/W1.npy' holds .* bytes but its header describes"):
        load_model(path)


def test_predict_refuses_a_model_too_big_for_memory_with_one_line(tmp_path):
    path = tmp_path / "big.npz"
    save_model(path, LayerNet((1, 28, 28), "conv(256,3,pad=1)-pool(28)", 10, seed=0))
    result = subprocess.run([sys.executable, "-c", "import sys; from chainrule import memory; "
                             "memory.set_limit('1M'); from chainrule.model_io import load_model; "
                             f"load_model({str(path)!r})"], capture_output=True, text=True)
    assert result.returncode != 0 and "memory limit" in result.stderr


def test_the_temporary_files_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    import os

    from chainrule.atomic import write_text
    target = tmp_path / "model.npz"
    dead = tmp_path / ".model.npz.4194000-deadbeef.part"           # a pid beyond pid_max: its writer is gone
    old_style = tmp_path / ".model.npz.cafe0123.part"                 # written before parts carried a pid
    live = tmp_path / f".model.npz.{os.getpid()}-0badf00d.part"       # a writer still at work
    for p in (dead, old_style, live):
        p.write_bytes(b"x" * 100)
    write_text(target, "new")
    assert target.read_text() == "new" and not dead.exists() and not old_style.exists() and live.exists()
    killed = subprocess.run([sys.executable, "-c", "import os, signal\nfrom chainrule.atomic import atomic_write\n"
                             f"with atomic_write({str(target)!r}) as f:\n    f.write(b'half')\n"
                             "    os.kill(os.getpid(), signal.SIGKILL)"])
    assert killed.returncode == -9 and len(list(tmp_path.glob(".model.npz.*.part"))) == 2   # the killed one's
    write_text(target, "again")
    assert [p.name for p in tmp_path.glob(".model.npz.*.part")] == [live.name]


def test_inference_batches_keep_every_layer_output_in_memory_that_is_reused(monkeypatch):
    """Evaluation cuts its batches so that no layer's output outgrows the blocks glibc reuses (fresh memory
    page-faults in every batch); the predictions do not change with the batch."""
    from chainrule.nets import SimpleConvNet
    net = SimpleConvNet(input_dim=(1, 12, 12), conv_param={"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1},
                        hidden_size=8, output_size=3, seed=0)
    largest = max(int(np.prod(p.out_shape)) for p in net.planned) * net.dtype.itemsize
    assert memory.reusable_batch(net.planned, net.dtype.itemsize, 10 ** 6) * largest <= memory.REUSED_BYTES
    assert memory.reusable_batch(net.planned, net.dtype.itemsize, 7) == 7
    x = np.random.default_rng(0).standard_normal((50, 1, 12, 12))
    whole = net.predict(x).argmax(axis=1)
    sizes = []
    predict = net.predict
    monkeypatch.setattr(net, "predict", lambda batch, **kw: sizes.append(len(batch)) or predict(batch, **kw))
    monkeypatch.setattr(memory, "REUSED_BYTES", 3 * largest)
    np.testing.assert_array_equal(net.predict_classes(x), whole)
    assert sizes == [3] * 16 + [2]


@pytest.mark.parametrize("where", ["under_a_file", "in_proc"])
def test_a_file_that_cannot_be_written_is_named_not_its_temporary_part(tmp_path, where):
    """`chainrule graph fruit --out /proc/x.svg` said "[Errno 2] No such file or directory:
    '/proc/.x.svg.11021-42845c22.part'": the message names the file asked for, and leaves nothing behind."""
    from chainrule.atomic import write_text
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "x.json" if where == "under_a_file" else Path("/proc/chainrule-test.json")
    with pytest.raises(OSError) as caught:
        write_text(target, "{}")
    assert str(caught.value).startswith(f"{target} cannot be written: ") and ".part" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
