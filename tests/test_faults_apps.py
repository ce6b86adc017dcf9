"""Faults seen from the command line: a diverging DANN run, and two deterministic runs of the same seed.

The three app runs start together (each spends most of its time importing
TensorFlow) on tiny synthetic .npz domains.
"""

import concurrent.futures
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

TIMING_KEYS = {"wall_seconds", "train_examples_per_second", "export_path"}


def _write_domains(folder):
    rng = np.random.default_rng(0)
    for name in ("source", "target"):
        np.savez(folder / f"{name}.npz", x=rng.integers(0, 256, (80, 32, 32, 3), dtype=np.uint8), y=np.arange(80) % 10)


def _dann(folder, name, *extra):
    command = [
        sys.executable,
        "-m",
        "apps.train_dann",
        f"--source=npz:{folder / 'source.npz'}",
        f"--target=npz:{folder / 'target.npz'}",
        "--max_steps=6",
        "--batch_size=8",
        "--log_every=3",
        "--eval_every=6",
        "--source_only_steps=0",
        "--tsne_examples=0",
        "--pad_examples=0",  # no embedding comparison: not what is tested here
        f"--output_dir={folder / name}",
        f"--export_root={folder / (name + '_exports')}",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def app_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("apps")
    _write_domains(folder)
    runs = {
        "diverging": ("--learning_rate=1e9", "--checkpoint_every=1", "--max_steps=20"),
        "deterministic_1": ("--deterministic", "--seed=3"),
        "deterministic_2": ("--deterministic", "--seed=3"),
    }
    with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
        futures = {name: pool.submit(_dann, folder, name, *flags) for name, flags in runs.items()}
        return folder, {name: future.result() for name, future in futures.items()}


def test_diverging_run_stops_with_one_line_exports_nothing_and_keeps_a_finite_checkpoint(app_runs):
    folder, runs = app_runs
    result = runs["diverging"]
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "diverged" in line]
    assert line.startswith("error: Training diverged at step ") and "loss = nan" in line
    step = int(line.split("at step ")[1].split(":")[0])
    assert step < 20  # stopped at once, not after the remaining steps
    assert not (folder / "diverging_exports").exists()
    assert not (folder / "diverging" / "metrics.json").exists()
    latest = tf.train.latest_checkpoint(str(folder / "diverging" / "checkpoints"))
    assert int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE")) == step - 1
    reader = tf.train.load_checkpoint(latest)
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if dtype.is_floating:
            assert np.isfinite(reader.get_tensor(name)).all(), name


def test_same_seed_twice_with_deterministic_gives_identical_metrics(app_runs):
    folder, runs = app_runs
    for name in ("deterministic_1", "deterministic_2"):
        assert runs[name].returncode == 0, runs[name].stderr[-2000:]
    first, second = (
        json.loads((folder / name / "metrics.json").read_text()) for name in ("deterministic_1", "deterministic_2")
    )
    assert first["steps"] == 6 and "target_test_accuracy" in first
    assert {k: v for k, v in first.items() if k not in TIMING_KEYS} == {
        k: v for k, v in second.items() if k not in TIMING_KEYS
    }
    history = [
        [
            {k: v for k, v in json.loads(line).items() if k != "elapsed_seconds"}
            for line in (folder / name / "history.jsonl").read_text().splitlines()
        ]
        for name in ("deterministic_1", "deterministic_2")
    ]
    assert history[0] == history[1] and history[0][0]["step"] == 3
