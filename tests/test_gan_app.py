"""Integration: apps/train_gan end to end on real MNIST, a few steps per model."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from kerasda.networks.digits import build_digits_classifier

FIGURES = {"samples", "losses", "discriminator_scores", "interpolation"}
CONDITIONAL_FIGURES = {"class_noise_grid"}


@pytest.mark.parametrize("model", ["dcgan", "acgan"])
def test_gan_app_writes_metrics_figures_events_and_a_loadable_generator(real_data_dir, tmp_path, model):
    out, exports = tmp_path / "run", tmp_path / "exports"
    # An untrained judge stands in for the cached MNIST classifier (training it takes minutes).
    judge = tmp_path / "judge.weights.h5"
    build_digits_classifier().save_weights(str(judge))
    command = [
        sys.executable,
        "-m",
        "apps.train_gan",
        f"--flagfile=apps/configs/{model}_mnist.cfg",
        f"--model={model}",
        f"--data_dir={real_data_dir}",
        f"--output_dir={out}",
        f"--export_root={exports}",
        f"--judge_weights={judge}",
        "--ngf=8",
        "--ndf=8",
        "--batch_size=32",
        "--max_steps=6",
        "--eval_every=3",
        "--log_every=2",
        "--num_eval_samples=200",
        "--eval_samples=100",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["model"] == model
    for key in (
        "frechet_distance",
        "class_counts",
        "entropy",
        "max_min_ratio",
        "classes_present",
        "seconds_per_epoch",
        "wall_seconds",
        "export_path",
    ):
        assert key in metrics
    assert sum(metrics["class_counts"]) == 200 and metrics["frechet_distance"] > 0
    assert ("label_accuracy" in metrics) == (model != "dcgan")

    figures = {p.stem for p in (out / "figures").glob("*.png")}
    expected = FIGURES | (CONDITIONAL_FIGURES | {"class_swap_pairs"} if model == "acgan" else set())
    assert figures == expected
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    train_records = [r for r in history if "d_loss" in r]
    eval_records = [r for r in history if "eval/frechet_distance" in r]
    assert [r["step"] for r in train_records] == [2, 4, 6]
    assert {"d_real", "d_fake", "g_loss"} <= set(train_records[0])
    assert [r["step"] for r in eval_records] == [3, 6]  # quality scored every epoch (--eval_every)

    loaded = tf.saved_model.load(metrics["export_path"])
    generate = loaded.signatures["generate"]
    noise = tf.random.normal([3, 100])
    if model == "dcgan":
        images = generate(noise=noise)["images"].numpy()
    else:
        images = generate(noise=noise, labels=tf.constant([0, 1, 2], tf.int64))["images"].numpy()
    assert images.shape == (3, 32, 32, 1)
    assert np.abs(images).max() <= 1.0
