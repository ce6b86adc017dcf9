"""benchmarks.same_computation: two run directories compared value by value."""

import json

from benchmarks import same_computation


def _run(folder, losses, accuracy, extra=None):
    folder.mkdir(parents=True)
    rows = [{"step": 100 * (i + 1), "loss": loss, "elapsed_seconds": 3.0 * i} for i, loss in enumerate(losses)]
    (folder / "history.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    metrics = {"target_test_accuracy": accuracy, "wall_seconds": 12.5, "export_path": str(folder), **(extra or {})}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_equal_runs_are_the_same_computation_whatever_their_timings_and_bookkeeping(tmp_path):
    a = _run(tmp_path / "a", [0.9, 0.5], 0.97)
    b = _run(tmp_path / "b", [0.9, 0.5], 0.97, extra={"source_stage_augmentation": "none"})
    comparison = same_computation.compare_runs(a, b)
    assert same_computation.identical(comparison)
    assert comparison["metrics_compared"] == 1
    assert comparison["only_in_b"] == ["source_stage_augmentation"]


def test_a_single_differing_loss_or_metric_is_found(tmp_path):
    a = _run(tmp_path / "a", [0.9, 0.5], 0.97)
    loss = same_computation.compare_runs(a, _run(tmp_path / "b", [0.9, 0.5000001], 0.97))
    assert not same_computation.identical(loss)
    assert loss["first_history_difference"]["row"] == 1
    metric = same_computation.compare_runs(a, _run(tmp_path / "c", [0.9, 0.5], 0.9705))
    assert metric["history_equal"] and metric["metrics_differing"] == {"target_test_accuracy": [0.97, 0.9705]}


def test_the_flags_that_differ_are_listed_without_paths(tmp_path):
    a = _run(tmp_path / "a", [0.9], 0.97)
    b = _run(tmp_path / "b", [0.9], 0.97)
    (a / "flags.json").write_text(json.dumps({"seed": 0, "source_augmentations": [], "output_dir": "x"}))
    (b / "flags.json").write_text(
        json.dumps({"seed": 0, "source_augmentations": ["none", "geometric"], "output_dir": "y"})
    )
    assert same_computation.flag_differences(a, b) == {"source_augmentations": [[], ["none", "geometric"]]}
