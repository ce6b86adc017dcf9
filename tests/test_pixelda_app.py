"""Integration: apps.train_pixelda end to end on real MNIST -> MNIST-M, a few steps."""

import json
import subprocess
import sys

import numpy as np
import tensorflow as tf

from kerasda.data import load_domain

TINY_MODEL_FLAGS = [
    "--generator_filters=8",
    "--generator_blocks=1",
    "--discriminator_filters=8",
    "--fake_target_eval_examples=64",
]


def test_pixelda_app_writes_metrics_figures_events_and_both_exports(real_data_dir, tmp_path):
    out, exports = tmp_path / "run", tmp_path / "exports"
    command = [
        sys.executable,
        "-m",
        "apps.train_pixelda",
        "--flagfile=apps/configs/pixelda_mnist_to_mnistm_cpu.cfg",
        f"--data_dir={real_data_dir}",
        f"--output_dir={out}",
        f"--export_root={exports}",
        "--max_steps=6",
        "--eval_every=3",
        "--log_every=3",
        "--checkpoint_every=3",
        "--semantic_loss_weight=0.05",  # the opt-in term reaches the model and its history
        *TINY_MODEL_FLAGS,
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)

    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "source_test_accuracy",
        "target_test_accuracy",
        "fake_target_test_accuracy",
        "source_test_f1_macro",
        "target_test_precision_macro",
        "fake_target_test_recall_macro",
        "target_test_confusion_matrix",
        "steps",
        "wall_seconds",
        "hparams",
    ):
        assert key in metrics, key
    assert metrics["steps"] == 6
    assert metrics["hparams"]["generator_filters"] == 8
    assert metrics["hparams"]["semantic_loss_weight"] == 0.05
    # The whole MNIST-M test split: the original release's (9,001 images here).
    mnist_m_test_size = len(load_domain("mnist_m", data_dir=real_data_dir).y_test)
    assert np.sum(metrics["target_test_confusion_matrix"]) == mnist_m_test_size
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "adaptation_examples.png",
        "noise_variations.png",
        "loss_curves.png",
        "accuracy_curves.png",
        "confusion_source.png",
        "confusion_target.png",
        "confusion_fake_target.png",
    }
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert any("eval/target_accuracy" in r for r in history)
    assert any("style_transfer_loss" in r for r in history)
    assert all(r["semantic_loss"] > 0 for r in history if "semantic_loss" in r)
    assert any("semantic_loss" in r for r in history)
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))

    classifier = tf.saved_model.load(metrics["export_path"])
    probabilities = classifier.signatures["serving_default"](images=tf.zeros([2, 32, 32, 3]))["probabilities"]
    np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, rtol=1e-5)
    generator = tf.saved_model.load(metrics["generator_export_path"])
    adapted = generator.signatures["adapt"](images=-tf.ones([2, 32, 32, 3]), noise=tf.zeros([2, 10]))["images"]
    assert adapted.shape == (2, 32, 32, 3)
