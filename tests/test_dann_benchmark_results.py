"""benchmarks.dann_mnist_to_mnistm names the MNIST-M set its numbers were measured on."""

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

_WRITE = """
import json, pathlib, sys
from absl import flags
from benchmarks import dann_mnist_to_mnistm, harness
harness.RESULTS_DIR = pathlib.Path(sys.argv[1])
flags.FLAGS(["x", f"--data_dir={sys.argv[2]}", "--output_name=table"])
dann_mnist_to_mnistm.write_results(json.loads(sys.argv[3]))
"""

RUN = {
    "config": "dann",
    "seed": 0,
    "source_test_accuracy": 0.98,
    "target_test_accuracy": 0.7,
    "source_only_target_test_accuracy": 0.55,
    "proxy_a_distance_dann": 1.5,
    "proxy_a_distance_source_only": 1.8,
    "process_wall_seconds": 600.0,
    "train_images_per_second": 1000.0,
}


def _write(tmp_path, data_dir):
    out = tmp_path / "results"
    subprocess.run(
        [
            sys.executable,
            "-c",
            _WRITE,
            str(out),
            str(data_dir),
            json.dumps([RUN, {**RUN, "seed": 1, "target_test_accuracy": 0.74}]),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return (out / "table.md").read_text(), json.loads((out / "table.json").read_text())


def test_the_table_says_original_release_or_synthesis(tmp_path):
    with_release = tmp_path / "with"
    (with_release / "mnist_m").mkdir(parents=True)
    text, payload = _write(tmp_path, with_release)
    assert text.startswith("# DANN, MNIST -> MNIST-M (original release)")
    assert payload["mnist_m_set"] == "original release"
    assert "| dann | 0,1 | 72.00 ± 2.83 |" in text  # the two seeds' mean ± sample std

    text, payload = _write(tmp_path, tmp_path / "without")
    assert text.startswith("# DANN, MNIST -> MNIST-M (synthesis)") and payload["mnist_m_set"] == "synthesis"
