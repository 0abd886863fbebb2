"""Full-size training on the real Fashion-MNIST files (Debian's dataset-fashion-mnist). Run with -m slow."""
from pathlib import Path

import pytest

from chainrule.training import recipes, job

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="install Debian's dataset-fashion-mnist for the full-size check")
def test_default_recipe_on_full_fashion_mnist(tmp_path):
    from chainrule import datasets
    metrics = job.run(recipes.recipe("fashion-mnist"), datasets.load("fashion-mnist"), out=tmp_path,
                      progress=False).metrics
    assert metrics["history"][0]["train_accuracy"] > 0.8
    assert metrics["test_accuracy"] >= 0.88  # conservative floor: the recipe reaches ~0.90
    assert (tmp_path / "model.npz").exists()


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="install Debian's dataset-fashion-mnist for the full-size check")
def test_default_cnn_recipe_on_full_fashion_mnist(tmp_path):
    """``chainrule train --dataset fashion-mnist --arch cnn`` (its figure: docs/results.md, seed 0); a floor
    below it here, so that a machine whose BLAS rounds differently does not fail a sound recipe."""
    from chainrule import datasets
    from chainrule.model_io import load_model
    result = job.run(recipes.recipe("fashion-mnist", arch="cnn"), datasets.load("fashion-mnist"), out=tmp_path,
                     progress=False)
    metrics = result.metrics
    assert metrics["status"] == "finished" and metrics["epochs"] == recipes.CNN["epochs"]
    assert metrics["test_accuracy"] >= 0.92
    loaded, meta = load_model(tmp_path / "model.npz")
    x, t = datasets.load("fashion-mnist")[1]
    assert loaded.accuracy(x, t) == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert meta["dataset"] == "fashion-mnist"
