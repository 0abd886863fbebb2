"""The book's worked examples (§5.4 shopping graphs, a §5.6.3 softmax-with-loss batch) with their exact numbers."""
import numpy as np
import pytest

from chainrule import examples


def test_apple_with_layers_matches_the_book():
    r = examples.apple_layers()
    assert r["price"] == pytest.approx(220)
    assert r["apple"] == pytest.approx(2.2)
    assert r["apple_num"] == pytest.approx(110)
    assert r["tax"] == pytest.approx(200)


def test_apple_and_orange_with_layers_matches_the_book():
    r = examples.fruit_layers()
    assert r["price"] == pytest.approx(715)
    assert (r["apple_price"], r["orange_price"], r["all_price"]) == (200, 450, 650)
    expected = {"apple": 2.2, "apple_num": 110, "orange": 3.3, "orange_num": 165, "apple_price": 1.1,
                "orange_price": 1.1, "all_price": 1.1, "tax": 650}
    for name, value in expected.items():
        assert r["d"][name] == pytest.approx(value), name


def test_softmax_with_loss_batch_is_row_wise():
    loss, per_row, y, dx = examples.softmax_with_loss_batch()
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    np.testing.assert_allclose(per_row, [4.619445041088595, 2.302585092994046, 0.145413455807706], rtol=1e-12)
    assert loss == pytest.approx(per_row.mean(), rel=1e-12)
    assert loss == pytest.approx(2.3558, abs=5e-5)
    np.testing.assert_allclose(dx, (y - examples.SOFTMAX_BATCH_LABELS) / 3)
    # one softmax over the whole batch (a classic mistake) gives 5.4168: reproduce it to show the difference
    x = examples.SOFTMAX_BATCH_LOGITS
    whole_batch = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    buggy = -np.sum(examples.SOFTMAX_BATCH_LABELS * np.log(whole_batch + 1e-7)) / 3
    assert buggy == pytest.approx(5.416781025822352)
    assert abs(loss - buggy) > 3


def test_examples_main_runs(capsys):
    examples.main()
    out = capsys.readouterr().out
    assert "price 220" in out and "d tax 650" in out and "2.3558" in out
