"""Integration: apps.train_dann end to end on real MNIST -> MNIST-M, a few steps."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from kerasda.data import load_domain


@pytest.fixture(scope="module")
def dann_run(real_data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dann")
    out = tmp / "run"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.train_dann",
            "--flagfile=apps/configs/dann_mnist_to_mnistm.cfg",
            f"--data_dir={real_data_dir}",
            f"--output_dir={out}",
            f"--export_root={tmp / 'exports'}",
            "--max_steps=12",
            "--eval_every=6",
            "--log_every=3",
            "--checkpoint_every=6",
            "--source_only_steps=5",
            "--tsne_examples=40",
            "--pad_examples=60",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out, json.loads((out / "metrics.json").read_text())


def test_dann_app_writes_metrics_for_both_test_sets_and_the_embeddings(dann_run, real_data_dir):
    _, metrics = dann_run
    for domain in ("source", "target"):
        for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro"):
            assert 0.0 <= metrics[f"{domain}_test_{key}"] <= 1.0
        # Whole test splits: MNIST's 10,000; MNIST-M's is the original release's (9,001 here).
        expected = 10_000 if domain == "source" else len(load_domain("mnist_m", data_dir=real_data_dir).y_test)
        assert np.sum(metrics[f"{domain}_test_confusion_matrix"]) == expected
    assert metrics["steps"] == 12
    assert metrics["train_examples_per_second"] > 0
    for name in ("dann", "source_only"):
        assert -2.0 <= metrics[f"proxy_a_distance_{name}"] <= 2.0
    assert "source_only_target_test_accuracy" in metrics
    for prefix in ("", "source_only_"):  # label-free scores on unlabelled target training images
        im = metrics[f"{prefix}target_train_information_maximization"]
        assert -np.log(10) <= im <= np.log(10)
        entropies = (
            metrics[f"{prefix}target_train_marginal_entropy"] - metrics[f"{prefix}target_train_conditional_entropy"]
        )
        assert im == pytest.approx(entropies)


def test_dann_app_writes_figures_events_projector_and_a_lambda_curve(dann_run):
    out, _ = dann_run
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "confusion_source.png",
        "confusion_target.png",
        "curves.png",
        "tsne.png",
    }
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "tensorboard" / "projector" / "projector_config.pbtxt").exists()
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    lambdas = [r["lambda"] for r in history if "lambda" in r]
    assert len(lambdas) == 4 and lambdas == sorted(lambdas) and 0.0 <= lambdas[0] < lambdas[-1] <= 1.0


def test_dann_app_exports_a_loadable_serving_default(dann_run):
    _, metrics = dann_run
    loaded = tf.saved_model.load(metrics["export_path"])
    # The shipped config is the paper's tower on 28x28 inputs.
    outputs = loaded.signatures["serving_default"](images=tf.zeros([3, 28, 28, 3]))
    assert outputs["classes"].shape == (3,)
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
