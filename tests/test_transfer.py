"""Transfer learning helpers: layer features, the SVM C sweep on a validation split, new heads."""

import inspect as pyinspect

import keras
import numpy as np
import pytest

from kerasda.inspect import transfer


class _FakeSvm:
    """Stands in for an SVM whose correctness per row is written in the features:
    column k says whether the model fitted with the k-th C gets that row right."""

    def __init__(self, column):
        self.column = column

    def fit(self, features, labels):
        return self

    def predict(self, features):
        truth = features[:, -1].astype(int)
        return np.where(features[:, self.column] > 0, truth, (truth + 1) % 3)


CS = (0.01, 0.1, 1.0, 10.0)


def _rows(correct_fraction_per_c, n=20, seed=0):
    """Features [n, len(CS) + 1]: per-C correctness flags, then the true label."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    flags = np.stack([np.arange(n) < round(f * n) for f in correct_fraction_per_c], axis=1).astype(float)
    return np.concatenate([flags, labels[:, None]], axis=1), labels


def test_svm_sweep_picks_c_by_the_validation_split_not_the_test_set(monkeypatch):
    monkeypatch.setattr(transfer, "make_svm", lambda c, kernel="linear", seed=0: _FakeSvm(CS.index(c)))
    train = _rows([1, 1, 1, 1])
    validation = _rows([0.5, 0.9, 0.6, 0.4])  # validation prefers C = 0.1
    test = _rows([0.3, 0.4, 0.5, 1.0])  # the test set would prefer C = 10
    sweep = transfer.svm_c_sweep(*train, *validation, cs=CS)
    assert sweep.best_c == 0.1
    np.testing.assert_allclose(sweep.validation_accuracy, [0.5, 0.9, 0.6, 0.4])
    assert sweep.test_accuracy(*test) == pytest.approx(0.4)
    np.testing.assert_allclose(sweep.test_accuracy_per_c(*test), [0.3, 0.4, 0.5, 1.0])
    # The sweep cannot see a test set: it takes train and validation only.
    assert list(pyinspect.signature(transfer.svm_c_sweep).parameters)[:4] == [
        "train_features",
        "train_labels",
        "val_features",
        "val_labels",
    ]


def test_svm_sweep_with_a_real_svm_reports_each_c_and_keeps_the_best_model():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (3, 5))

    def blobs(n):
        y = rng.integers(0, 3, n)
        return centers[y] + rng.normal(0, 1.5, (n, 5)), y

    sweep = transfer.svm_c_sweep(*blobs(150), *blobs(60), cs=(1e-4, 1e-2, 1.0))
    assert sweep.validation_accuracy.shape == (3,)
    assert sweep.best_c == sweep.cs[int(np.argmax(sweep.validation_accuracy))]
    assert sweep.validation_accuracy.max() > 0.8
    with pytest.raises(ValueError, match="positive"):
        transfer.svm_c_sweep(*blobs(10), *blobs(10), cs=(0.0,))


def _backbone():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="images")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(6, activation="relu", name="fc")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def test_layer_features_come_from_the_named_layer():
    model = _backbone()
    assert transfer.default_feature_layer(model) == "fc"
    x = np.random.default_rng(0).uniform(-1, 1, (5, 8, 8, 3)).astype(np.float32)
    features = transfer.extract_features(transfer.layer_model(model, "conv"), x)
    assert features.shape == (5, 6 * 6 * 4)
    with pytest.raises(ValueError, match="No layer 'nope'"):
        transfer.layer_model(model, "nope")


@pytest.mark.parametrize("fine_tune", [False, True])
def test_a_frozen_backbone_keeps_its_weights_and_a_fine_tuned_one_changes(fine_tune):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 8, 8, 3)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    features = transfer.layer_model(_backbone(), "fc")
    before = [w.copy() for w in features.get_weights()]
    config = transfer.HeadConfig(fine_tune=fine_tune, hidden_units=(4,), epochs=2, batch_size=16)
    model, history = transfer.train_head(features, 2, (x, y), (x[:16], y[:16]), config)
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"} and len(history["loss"]) == 2
    changed = any(not np.array_equal(a, b) for a, b in zip(before, features.get_weights()))
    assert changed == fine_tune
    assert 0.0 <= transfer.evaluate_head(model, x, y) <= 1.0


def test_transfer_study_reports_every_configuration():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (90, 8, 8, 3)).astype(np.float32)
    y = (x[:, :, :4].mean(axis=(1, 2, 3)) > x[:, :, 4:].mean(axis=(1, 2, 3))).astype(np.int64)
    config = transfer.TransferConfig(svm_cs=(0.1, 1.0), head=transfer.HeadConfig(hidden_units=(4,), epochs=1))
    result = transfer.transfer_study(_backbone, 2, (x[:50], y[:50]), (x[50:70], y[50:70]), (x[70:], y[70:]), config)
    assert result["layer"] == "fc" and result["feature_dim"] == 6 and result["num_test"] == 20
    assert result["svm"]["best_c"] in (0.1, 1.0) and len(result["svm"]["test_accuracy_per_c"]) == 2
    for mode in ("frozen", "finetune"):
        assert 0.0 <= result[f"head_{mode}"]["test_accuracy"] <= 1.0
        assert result[f"head_{mode}"]["fine_tune"] == (mode == "finetune")


def test_keras_application_backbone_builds_offline_with_named_layers(tmp_path):
    backbone = transfer.keras_application_backbone("MobileNetV2", 32, weights=None)
    assert backbone.output_shape == (None, 1280)
    assert transfer.default_feature_layer(backbone) == backbone.layers[-1].name
    features = transfer.layer_model(backbone, "block_1_expand_relu")
    assert features.output_shape[-1] > 0
    # A local weights file of the same architecture is read back exactly.
    keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    ).save_weights(tmp_path / "m.weights.h5")
    reference = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
    reference.load_weights(tmp_path / "m.weights.h5")
    loaded = transfer.keras_application_backbone("MobileNetV2", 32, weights=str(tmp_path / "m.weights.h5"))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(x), reference((x + 1) * 127.5 / 127.5 - 1), atol=1e-4)
    with pytest.raises(ValueError, match="no network"):
        transfer.keras_application_backbone("NotANet", 32)


def test_train_val_split_is_disjoint_stratified_and_seeded():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, val = transfer.train_val_split(labels, 0.2, seed=3)
    assert len(val) == 20 and len(train) == 80
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    np.testing.assert_array_equal(np.bincount(labels[val]), [2, 4, 6, 8])  # each class in proportion
    again_train, again_val = transfer.train_val_split(labels, 0.2, seed=3)
    np.testing.assert_array_equal(val, again_val)
    assert not np.array_equal(np.sort(transfer.train_val_split(labels, 0.2, seed=4)[1]), np.sort(val))
    # a class with a single example cannot be stratified: still a valid split
    train, val = transfer.train_val_split(np.array([0, 0, 0, 1, 1, 2]), 0.5, seed=0)
    assert len(val) == 3 and set(train) | set(val) == set(range(6))
