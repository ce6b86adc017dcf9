"""benchmarks.da_table end to end on two tiny npz domains: runs, caching, sharing and outputs."""

import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import da_table, harness

REPO_ROOT = pathlib.Path(__file__).parent.parent

# Tiny schedules and no embedding extras, so each app run is a few seconds.
EXTRA_FLAGS = ",".join(
    [
        "all=--batch_size=16",
        "all=--eval_every=100",
        "all=--checkpoint_every=100",
        "dann=--source_only_steps=0",
        "dann=--tsne_examples=12",
        "dann=--pad_examples=12",
    ]
)


def write_domain(path, background, ink, seed):
    """10 classes x (6 train + 2 test) 32x32 RGB images: a bar whose column encodes the label,
    drawn in `ink` on a noisy `background` colour (so the two domains differ in colour)."""
    rng = np.random.default_rng(seed)

    def make(per_class):
        labels = np.repeat(np.arange(10), per_class)
        x = np.empty((len(labels), 32, 32, 3), np.uint8)
        for i, label in enumerate(labels):
            image = np.asarray(background, np.float32) + rng.normal(0, 20, (32, 32, 3))
            image[4:28, 3 + 2 * label : 6 + 2 * label] = ink
            x[i] = np.clip(image, 0, 255).astype(np.uint8)
        return x, labels

    x_train, y_train = make(6)
    x_test, y_test = make(2)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return f"npz:{path}"


def table_command(tmp, pairs, methods, results_name, *extra):
    return [
        sys.executable,
        "-m",
        "benchmarks.da_table",
        f"--pairs={pairs}",
        f"--methods={methods}",
        "--seeds=0",
        "--max_steps=3",
        f"--extra_flags={EXTRA_FLAGS}",
        f"--work_dir={tmp / 'work'}",
        f"--results_dir={tmp / 'results'}",
        f"--results_name={results_name}",
        *extra,
    ]


def run_table(*command):
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Two invocations sharing one work dir (3 app runs in all):

    first:  A->B with source_only, dann, target_only (trains source_only on A->B, DANN, and
            source_only on B->A for the upper bound);
    second: A->B and B->A with source_only, target_only: every cell is a run of the first,
            the lower bound of B->A being the upper bound of A->B.
    """
    tmp = tmp_path_factory.mktemp("da_table")
    a = write_domain(tmp / "dark.npz", background=(30, 30, 30), ink=(250, 60, 60), seed=0)
    b = write_domain(tmp / "bright.npz", background=(200, 220, 160), ink=(20, 40, 200), seed=1)
    first = run_table(*table_command(tmp, f"{a}->{b}", "source_only,dann,target_only", "first"))
    both_ways = f"{a}->{b},{b}->{a}"
    second = run_table(*table_command(tmp, both_ways, "source_only,target_only", "second"))
    results = {name: json.loads((tmp / "results" / f"{name}.json").read_text()) for name in ("first", "second")}
    return {"tmp": tmp, "a": a, "b": b, "both_ways": both_ways, "logs": (first, second), "results": results}


def test_json_has_one_accuracy_per_method_pair_and_seed(table):
    a, b = table["a"], table["b"]
    payload = table["results"]["first"]
    keys = sorted((r["method"], r["pair"], r["seed"]) for r in payload["runs"])
    assert keys == sorted((m, f"{a}->{b}", 0) for m in ("source_only", "dann", "target_only"))
    for run in payload["runs"]:
        assert run["status"] == "ok" and run["origin"] == "ran", run
        assert 0.0 <= run["accuracy"] <= 1.0
        assert run["wall_seconds"] > 0
        assert "--max_steps=3" in run["command"]
        assert run["steps"] == 3
    cells = payload["cells"][f"{a}->{b}"]
    assert cells["dann"]["n"] == 1 and cells["dann"]["std"] is None
    gain = payload["gain_over_source_only"][f"{a}->{b}"]["dann"]
    assert gain == pytest.approx(cells["dann"]["mean"] - cells["source_only"]["mean"])
    assert "machine" in payload and payload["gain_target"]["threshold_points"] == 5.0


def test_second_invocation_reuses_the_runs_and_shares_lower_and_upper_bounds(table):
    a, b = table["a"], table["b"]
    first, second = table["logs"]
    assert "3 runs to train, 3 cells." in first
    assert "0 runs to train, 4 cells." in second
    assert "$ " not in second  # no app was launched
    runs = table["results"]["second"]["runs"]
    assert {r["origin"] for r in runs} == {"cached"}
    by_cell = {(r["method"], r["pair"]): r for r in runs}
    lower_b_to_a, upper_a_to_b = by_cell["source_only", f"{b}->{a}"], by_cell["target_only", f"{a}->{b}"]
    assert lower_b_to_a["run_id"] == upper_a_to_b["run_id"]
    assert lower_b_to_a["metric"] == "target_test_accuracy"
    assert (upper_a_to_b["run_source"], upper_a_to_b["metric"]) == (b, "source_test_accuracy")
    assert len(list((table["tmp"] / "work" / "records").glob("*.json"))) == 3
    assert lower_b_to_a["run_id"].startswith("source_only__npz_bright__to__npz_dark__seed0__")


def test_markdown_has_the_column_every_row_and_the_time_table(table):
    a, b = table["a"], table["b"]
    md = (table["tmp"] / "results" / "first.md").read_text()
    assert f"| method | {a} → {b} |" in md  # unknown specs fall back to the raw spec
    for label in ("source-only (lower bound)", "DANN", "target-only (upper bound)"):
        assert f"| {label} |" in md and f"| *{label}, published* | - |" in md
    assert "Time per run" in md and "apps/configs/dann_mnist_to_mnistm.cfg" in md
    table_part = md.split("## Configuration")[0]
    assert "failed" not in table_part
    # One seed: each measured cell is a plain percentage (no "± 0.00" spread that was never measured).
    assert re.search(r"\| source-only \(lower bound\) \| \d{1,3}\.\d\d \|", table_part)
    assert "± 0.00" not in table_part
    # Every run lists the steps it reached (here the --max_steps=3 override).
    # ... and the host it ran on, which each record now keeps (adversarial runs differ across CPU types).
    host = re.escape(da_table.host_label(harness.machine_info()))
    assert re.search(
        rf"\| DANN \| {re.escape(a)} → {re.escape(b)} \| 0 \| \d{{1,3}}\.\d\d \| 3 \| \d+ \| {host} \|", md
    )


def test_host_label_says_cpu_cores_and_avx512_and_marks_old_records():
    machine = {"cpu": "AMD EPYC", "cpu_cores": 2, "avx512": False, "gpus": []}
    assert da_table.host_label(machine) == "AMD EPYC, 2 cores, no AVX512"
    assert da_table.host_label({**machine, "avx512": True}) == "AMD EPYC, 2 cores, AVX512"
    assert da_table.host_label(None) == "-"


def test_png_is_written(table):
    data = (table["tmp"] / "results" / "first.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_dry_run_prints_the_commands_and_marks_cached_runs_done(table):
    out = run_table(*table_command(table["tmp"], table["both_ways"], "source_only,target_only", "second", "--dry_run"))
    lines = [line for line in out.splitlines() if "-m apps." in line]
    # 4 cells, 2 runs: each source-only run is one pair's lower bound and the other's upper bound.
    assert len(lines) == 2 and all(line.startswith("# done: ") for line in lines)
    assert "2 runs (2 done) for 4 cells." in out
    a, b = table["a"], table["b"]
    assert f"# source_only {b}->{a} seed 0; target_only {a}->{b} seed 0" in out


def test_notrain_writes_the_table_from_finished_runs_and_leaves_the_rest_pending(table):
    out = run_table(
        *table_command(table["tmp"], table["both_ways"], "source_only,dann,target_only", "as_it_stands", "--notrain")
    )
    # Nothing was launched: no training progress, and still only the first call's 3 run records.
    assert "runs to train" not in out and "[1/" not in out
    assert len(list((table["tmp"] / "work" / "records").glob("*.json"))) == 3
    payload = json.loads((table["tmp"] / "results" / "as_it_stands.json").read_text())
    a, b = table["a"], table["b"]
    assert payload["cells"][f"{a}->{b}"]["dann"]["status"] == "ok"  # trained by the first call
    assert payload["cells"][f"{b}->{a}"]["dann"]["status"] == "pending"  # never run


def test_a_failed_run_is_recorded_and_shown(tmp_path, monkeypatch):
    """A run exiting non-zero: the cell says failed, the record keeps the log tail, the table goes on."""
    # An app that fails at once (argparse rejects --flagfile), and no TensorFlow import for machine info.
    monkeypatch.setitem(
        da_table.METHODS,
        "broken",
        da_table.Method("broken", "json.tool", "apps/configs/source_only_mnist_to_mnistm.cfg"),
    )
    monkeypatch.setattr(da_table.harness, "machine_info", lambda: {})
    config = da_table.Config(
        pairs=[("mnist", "mnist_m"), ("mnist_m", "mnist")],
        methods=["broken"],
        seeds=[0],
        work_dir=tmp_path / "work",
        results_dir=tmp_path / "results",
    )
    payload = da_table.run_table(config)
    assert [r["status"] for r in payload["runs"]] == ["failed", "failed"]
    assert payload["runs"][0]["accuracy"] is None
    assert "unrecognized arguments" in payload["runs"][0]["log_tail"]
    assert payload["cells"]["mnist->mnist_m"]["broken"]["status"] == "failed"
    assert "| broken | failed | failed |" in (tmp_path / "results" / "da_table.md").read_text()
    assert (tmp_path / "results" / "da_table.png").exists()


def test_pixelda_is_n_a_outside_mnist_to_mnist_m(tmp_path):
    config = da_table.Config(
        pairs=da_table.parse_pairs("mnist->mnist_m,mnist->uci_digits,svhn->mnist_m,mnist->mnist_m_synth"),
        methods=["source_only", "pixelda"],
        seeds=[0, 1],
        work_dir=tmp_path / "work",
        results_dir=tmp_path / "results",
    )
    pixelda_pairs = {pair for method, pair, _ in da_table.cells(config) if method == "pixelda"}
    assert pixelda_pairs == {("mnist", "mnist_m"), ("mnist", "mnist_m_synth")}
    summary = da_table.summarise(config, da_table.collect(config, {}))
    assert summary["mnist->uci_digits"]["pixelda"]["status"] == "n/a"
    assert summary["svhn->mnist_m"]["pixelda"]["status"] == "n/a"
    assert summary["mnist->mnist_m"]["pixelda"]["status"] == "pending"
    gain, _ = da_table.gains(config, summary)
    md = da_table.markdown(config, summary, gain, [])
    pixelda_row = next(line for line in md.splitlines() if line.startswith("| PixelDA |"))
    assert pixelda_row.split(" | ")[1:] == ["pending", "n/a", "n/a", "pending |"]
    assert da_table.column_label(("mnist", "mnist_m")) == "MNIST → MNIST-M"
    every_pair = dataclasses.replace(config, every_pair=True)
    assert {pair for method, pair, _ in da_table.cells(every_pair) if method == "pixelda"} == set(config.pairs)
    every_summary = da_table.summarise(every_pair, [])
    assert every_summary["mnist->uci_digits"]["pixelda"]["status"] == "pending"
    every_gain, _ = da_table.gains(every_pair, every_summary)
    assert "--every_pair" in da_table.markdown(every_pair, every_summary, every_gain, [])


def test_pairs_and_overrides_parse():
    assert da_table.parse_pairs("npz:/x/a.npz->mnist, mnist->folder:/y") == [
        ("npz:/x/a.npz", "mnist"),
        ("mnist", "folder:/y"),
    ]
    with pytest.raises(ValueError):
        da_table.parse_pairs("mnist")
    values = da_table.parse_method_values(["3", "dann=10"], ["source_only", "dann"], allow_bare=True)
    assert values == {"source_only": ["3"], "dann": ["3", "10"]}
    with pytest.raises(ValueError):
        da_table.parse_method_values(["nope=1"], ["dann"])


def test_records_keep_numbers_and_labels_and_flatten_nested_scores():
    metrics = {
        "target_test_accuracy": 0.85,
        "steps": 10000,
        "source_stage_augmentation": "geometric",
        "source_stage_candidates": {
            "none": {"information_maximization": 1.76},
            "geometric": {"information_maximization": 1.84},
        },
        "target_test_confusion_matrix": [[1, 0], [0, 1]],
        "export_path": "/somewhere/exports/adda_classifier/1",
        "resumed": True,
    }
    assert da_table.record_metrics(metrics) == {
        "target_test_accuracy": 0.85,
        "steps": 10000,
        "source_stage_augmentation": "geometric",
        "source_stage_candidates.none.information_maximization": 1.76,
        "source_stage_candidates.geometric.information_maximization": 1.84,
    }


def test_svhn_and_usps_columns_are_added_when_their_files_exist(tmp_path):
    assert len(da_table.default_pairs(tmp_path)) == 5
    (tmp_path / "svhn").mkdir()
    for name in ("train_32x32.mat", "test_32x32.mat"):
        (tmp_path / "svhn" / name).write_bytes(b"")
    pairs = da_table.default_pairs(tmp_path)
    assert pairs[5:] == [("svhn", "mnist_m"), ("mnist_m", "svhn"), ("svhn", "mnist")]
    (tmp_path / "usps").mkdir()
    for name in ("usps.bz2", "usps.t.bz2"):
        (tmp_path / "usps" / name).write_bytes(b"")
    assert da_table.default_pairs(tmp_path)[8:] == [("mnist", "usps"), ("usps", "mnist")]
