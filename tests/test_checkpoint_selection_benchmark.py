"""benchmarks.checkpoint_selection on hand-written records: the right runs paired, the score read from history."""

import json

import pytest

from benchmarks import checkpoint_selection, da_table


def _record(folder, seed, metrics, history=None):
    run_id = f"adda__mnist__to__mnist_m__seed{seed}__{'sel' if history else 'fin'}"
    run_dir = folder.parent / run_id
    (run_dir / "run").mkdir(parents=True)
    if history:
        lines = [json.dumps(r) for r in history]
        (run_dir / "run" / "history.jsonl").write_text("\n".join(lines) + "\n")
    record = {
        "status": "ok",
        "key": {"source": "mnist", "target": "mnist_m", "seed": seed},
        "log": str(run_dir / "log.txt"),
        "metrics": metrics,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run_id}.json").write_text(json.dumps(record))


def _history(points):
    """{step: (periodic target accuracy, selection score)} -> history.jsonl records, as the apps log them."""
    history = []
    for step, (accuracy, score) in points.items():
        history.append({"step": step, "eval/target_accuracy": accuracy})
        history.append({"step": step, "selection/information_maximization": score})
    return history


def test_compare_pairs_selected_runs_with_final_step_baselines(tmp_path):
    study, baseline = tmp_path / "study" / "records", tmp_path / "baseline" / "records"
    history = [{"step": 0, "selection/information_maximization": 1.0}]
    history += _history({500: (0.6, 1.5), 1000: (0.8, 1.9), 1500: (0.7, 1.7)})
    chosen = {
        "target_test_accuracy": 0.81,
        "final_step_target_test_accuracy": 0.70,
        "selected_step": 1000,
        "source_only_target_test_accuracy": 0.55,
        "steps": 1500,
    }
    _record(study, 0, chosen, history)
    _record(baseline, 0, {"target_test_accuracy": 0.75})
    rows = checkpoint_selection.compare(
        da_table.ok_records(study, "adda", selected=True),
        da_table.ok_records(baseline, "adda", selected=False),
    )
    (run,) = rows[0]["runs"]
    assert (run["previous_config"], run["final_step"], run["selected"]) == (0.75, 0.70, 0.81)
    assert run["curves"]["steps"] == [500, 1000, 1500]  # step 0 has a score but no accuracy
    assert run["spearman_score_vs_accuracy"] == pytest.approx(1.0)  # same ranking
    assert run["oracle"] == pytest.approx(0.8)
    table = checkpoint_selection.markdown(rows, "runs/x")
    assert "| MNIST → MNIST-M | 55.00 (n=1) | 75.00 (n=1) | 70.00 (n=1) | **81.00 (n=1)** | 1000 | +1.00 |" in table
    # A record without a selected step is never taken for a selection run, and vice versa.
    assert da_table.ok_records(study, "adda", selected=False) == {}


def test_dann_oracle_ignores_the_source_only_tower_which_is_not_a_candidate(tmp_path):
    """ADDA's step 0 is its stage-1 model; DANN's is an untrained network, so only evaluations count."""
    study = tmp_path / "study" / "records"
    history = _history({500: (0.6, 1.5), 1000: (0.7, 1.9)})
    metrics = {
        "target_test_accuracy": 0.7,
        "final_step_target_test_accuracy": 0.7,
        "selected_step": 1000,
        "source_only_target_test_accuracy": 0.9,
        "steps": 1000,
    }
    _record(study, 0, metrics, history)
    records = da_table.ok_records(study, "adda", selected=True)
    (adda,) = checkpoint_selection.compare(records, {}, start_is_source_model=True)[0]["runs"]
    (dann,) = checkpoint_selection.compare(records, {}, start_is_source_model=False)[0]["runs"]
    assert (adda["oracle"], dann["oracle"]) == (pytest.approx(0.9), pytest.approx(0.7))
    table = checkpoint_selection.markdown(
        [{"source": "mnist", "target": "mnist_m", "runs": [dann]}], "runs/x", checkpoint_selection.STUDIES["dann"]
    )
    assert table.startswith("# Label-free checkpoint selection for DANN")
    assert "source-only tower (1,000 steps)" in table
