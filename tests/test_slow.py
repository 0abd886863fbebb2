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
