"""apps.inspect and apps.transfer end to end on a tiny export and a tiny npz domain (subprocesses:
their flags would clash with apps.evaluate's in one process)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasda import export
from kerasda.networks import digits as classifiers
from tests.conftest import make_digits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_export_and_domain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inspect_app")
    rng = np.random.default_rng(0)
    x, y = make_digits(120, rng)
    np.savez(tmp / "bars.npz", x=x, y=y)
    keras.utils.set_random_seed(0)
    model = classifiers.build_digits_classifier((32, 32, 3))
    path = export.export_classifier(model, "tiny_classifier", (32, 32, 3), export_dir=tmp / "tiny_classifier" / "1")
    return tmp, path, f"npz:{tmp / 'bars.npz'}"


def run_app(module, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_inspect_app_writes_figures_metrics_and_tensorboard(tiny_export_and_domain):
    tmp, model_path, domain = tiny_export_and_domain
    out = tmp / "inspect_run"
    stdout = run_app(
        "apps.inspect",
        f"--model={model_path}",
        f"--domain={domain}",
        f"--output_dir={out}",
        "--num_images=12",
        "--num_figure_images=3",
        "--smoothgrad_samples=2",
        "--attack_max_steps=5",
        "--epsilons=0,8",
        "--fgsm_steps=1,2",
        "--vis_iterations=4",
    )
    assert "clean accuracy" in stdout
    for name in ("saliency", "adversarial", "class_visualisation", "robustness"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_images"] == 12 and metrics["score_kind"] == "logits"
    robustness = metrics["robustness"]
    assert robustness["epsilons_grey_levels"] == [0.0, 8.0]
    for key in ("fgsm_steps1_accuracy", "fgsm_steps2_accuracy"):
        assert robustness[key][0] == pytest.approx(metrics["clean_accuracy"])
    attack = metrics["targeted_attack"]
    assert 0.0 <= attack["success_rate"] <= 1.0 and attack["max_steps"] == 5
    assert len(metrics["class_visualisation"]["final_scores"]) == 10
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


def test_transfer_app_reports_svm_and_heads(tiny_export_and_domain):
    tmp, model_path, domain = tiny_export_and_domain
    out = tmp / "transfer_run"
    stdout = run_app(
        "apps.transfer",
        f"--backbone={model_path}",
        f"--domain={domain}",
        f"--output_dir={out}",
        "--num_train=60",
        "--num_test=20",
        "--svm_cs=0.1,1",
        "--head_epochs=1",
        "--layer=flatten",
        "--modes=svm,frozen",  # fine-tuning is covered by tests/test_transfer.py
    )
    assert "chosen on validation" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["layer"] == "flatten" and metrics["feature_dim"] == 8 * 8 * 48
    assert metrics["num_train"] == 48 and metrics["num_validation"] == 12 and metrics["num_test"] == 20
    assert metrics["svm"]["best_c"] in (0.1, 1.0)
    assert len(metrics["head_frozen"]["history"]["val_accuracy"]) == 1 and "head_finetune" not in metrics
    assert (out / "figures" / "c_sweep.png").exists() and (out / "figures" / "head_curves.png").exists()
