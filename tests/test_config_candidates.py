"""benchmarks.config_candidates: the pre-registered adoption rule on hand-written records."""

import json

import pytest

from benchmarks import config_candidates, da_table

UCI = ("mnist", "uci_digits")
MNIST_M = ("mnist", "mnist_m")
ACCURACY = "target_test_accuracy"
SCORE = config_candidates.SCORE  # the rule of the studies before the label-free one


def _write(folder, pair, seed, metrics, status="ok"):
    folder.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "key": {"source": pair[0], "target": pair[1], "seed": seed}, "metrics": metrics}
    (folder / f"dann__{pair[0]}__to__{pair[1]}__seed{seed}.json").write_text(json.dumps(record))


def test_verdict_keeps_only_a_candidate_that_drops_nowhere_and_rises_on_average():
    baseline = {MNIST_M: 68.0, UCI: 79.0}
    assert config_candidates.adoption_verdict(baseline, {MNIST_M: 75.0, UCI: 78.5})["kept"]
    dropped = config_candidates.adoption_verdict(baseline, {MNIST_M: 80.0, UCI: 77.0})
    assert not dropped["kept"]
    assert dropped["worst_change"] == pytest.approx(-2.0)
    assert "2.00 points lower" in dropped["reasons"][0]
    flat = config_candidates.adoption_verdict(baseline, {MNIST_M: 67.5, UCI: 79.5})
    assert not flat["kept"] and "not higher" in flat["reasons"][0]
    missing = config_candidates.adoption_verdict(baseline, {MNIST_M: 90.0})
    assert not missing["kept"] and "no runs for" in missing["reasons"][0]


def test_compare_reads_two_candidates_from_the_same_runs_by_metric_prefix(tmp_path):
    baseline_dir, candidate_dir = tmp_path / "baseline", tmp_path / "candidate"
    for seed, (mnist_m, uci) in enumerate([(0.70, 0.80), (0.66, 0.78)]):
        _write(baseline_dir, MNIST_M, seed, {"target_test_accuracy": mnist_m, "source_test_accuracy": 0.99})
        _write(baseline_dir, UCI, seed, {"target_test_accuracy": uci, "source_test_accuracy": 0.99})
    for seed, (before, after) in enumerate([((0.75, 0.70), (0.78, 0.81)), ((0.73, 0.66), (0.76, 0.79))]):
        for pair, moving, adapted in ((MNIST_M, before[0], after[0]), (UCI, before[1], after[1])):
            metrics = {"moving_statistics_target_test_accuracy": moving, "target_test_accuracy": adapted}
            _write(candidate_dir, pair, seed, metrics)
    _write(candidate_dir, UCI, 2, {"target_test_accuracy": 0.10}, status="failed")  # ignored

    result = config_candidates.compare(
        da_table.ok_records(baseline_dir, "dann"),
        da_table.ok_records(candidate_dir, "dann"),
        config_candidates.parse_candidates(["before=moving_statistics_", "after="]),
        max_drop=1.0,
        judge=ACCURACY,
    )
    assert [tuple(p) for p in result["pairs"]] == [MNIST_M, UCI]  # the table's column order
    before, after = result["candidates"]["before"], result["candidates"]["after"]
    assert before["target"]["MNIST → UCI digits"][0] == pytest.approx(68.0)
    assert not before["verdict"]["kept"]  # UCI: 68 vs 79
    assert after["target"]["MNIST → UCI digits"][0] == pytest.approx(80.0)
    assert after["verdict"]["kept"]  # 77 vs 68 and 80 vs 79
    text = config_candidates.markdown(result, "runs/x", 1.0)
    assert "**kept**" in text and "reverted: MNIST → UCI digits is 11.00 points lower" in text


def test_a_candidate_spec_without_a_prefix_separator_is_rejected():
    with pytest.raises(SystemExit, match="NAME=METRIC_PREFIX"):
        config_candidates.parse_candidates(["oops"])


def test_a_candidate_missing_columns_or_seeds_is_not_judged(tmp_path):
    """The rule is over every column of the shipped config, each with as many seeds."""
    baseline_dir, candidate_dir = tmp_path / "baseline", tmp_path / "candidate"
    for seed in range(3):
        _write(baseline_dir, MNIST_M, seed, {"target_test_accuracy": 0.70, "source_test_accuracy": 0.99})
        _write(baseline_dir, UCI, seed, {"target_test_accuracy": 0.75, "source_test_accuracy": 0.99})
        _write(candidate_dir, UCI, seed, {"target_test_accuracy": 0.85})
    _write(candidate_dir, MNIST_M, 0, {"target_test_accuracy": 0.72})
    candidates = config_candidates.parse_candidates(["candidate="])

    partial = config_candidates.compare(
        da_table.ok_records(baseline_dir, "dann"),
        da_table.ok_records(candidate_dir, "dann"),
        candidates,
        1.0,
        judge=ACCURACY,
    )
    verdict = partial["candidates"]["candidate"]["verdict"]
    assert not verdict["kept"] and not verdict["complete"]
    assert verdict["reasons"] == ["MNIST → MNIST-M has 1 of 3 seeds"]
    assert "not judged yet: MNIST → MNIST-M has 1 of 3 seeds" in config_candidates.markdown(partial, "runs/x", 1.0)

    uci_only = {key: record for key, record in da_table.ok_records(candidate_dir, "dann").items() if key[:2] == UCI}
    missing = config_candidates.compare(
        da_table.ok_records(baseline_dir, "dann"), uci_only, candidates, 1.0, judge=ACCURACY
    )
    assert [tuple(p) for p in missing["pairs"]] == [MNIST_M, UCI]  # the shipped config's columns are shown
    assert not missing["candidates"]["candidate"]["verdict"]["kept"]
    assert "no runs for MNIST → MNIST-M" in missing["candidates"]["candidate"]["verdict"]["reasons"]

    for seed in (1, 2):
        _write(candidate_dir, MNIST_M, seed, {"target_test_accuracy": 0.72})
    complete = config_candidates.compare(
        da_table.ok_records(baseline_dir, "dann"),
        da_table.ok_records(candidate_dir, "dann"),
        candidates,
        1.0,
        judge=ACCURACY,
    )
    assert complete["candidates"]["candidate"]["verdict"]["kept"]


def test_a_later_baseline_folder_replaces_runs_and_the_hosts_are_shown(tmp_path):
    """The shipped config rerun on the candidate's host replaces the table's run of the same pair and seed."""
    table, same_host, candidate_dir = tmp_path / "table", tmp_path / "same_host", tmp_path / "candidate"
    for seed in range(3):
        _write(table, MNIST_M, seed, {"target_test_accuracy": 0.82})
        _write(candidate_dir, MNIST_M, seed, {"target_test_accuracy": 0.79})
    for seed in (1, 2):
        _write(same_host, MNIST_M, seed, {"target_test_accuracy": 0.785})
    machine = {"cpu": "AMD EPYC", "cpu_cores": 2, "avx512": False, "gpus": []}
    record = json.loads((same_host / "dann__mnist__to__mnist_m__seed1.json").read_text())
    (same_host / "dann__mnist__to__mnist_m__seed1.json").write_text(json.dumps({**record, "machine": machine}))

    layered = config_candidates.layered_records([table, same_host], "dann")
    assert [round(layered[(*MNIST_M, seed)]["metrics"]["target_test_accuracy"], 3) for seed in range(3)] == [
        0.82,
        0.785,
        0.785,
    ]
    candidates = config_candidates.parse_candidates(["candidate="])
    against_table = config_candidates.compare(
        da_table.ok_records(table, "dann"), da_table.ok_records(candidate_dir, "dann"), candidates, 1.0, judge=ACCURACY
    )
    assert not against_table["candidates"]["candidate"]["verdict"]["kept"]  # 79 vs 82: 3 points lower
    layered_result = config_candidates.compare(
        layered, da_table.ok_records(candidate_dir, "dann"), candidates, 1.0, judge=ACCURACY
    )
    assert layered_result["baseline"]["target"]["MNIST → MNIST-M"][0] == pytest.approx((82 + 78.5 + 78.5) / 3)
    assert "3.00 points lower" not in " ".join(layered_result["candidates"]["candidate"]["verdict"]["reasons"])
    assert layered_result["hosts"]["shipped"]["MNIST → MNIST-M"] == ["-", "AMD EPYC, 2 cores, no AVX512"]
    text = config_candidates.markdown(layered_result, "runs/x", 1.0, [str(table), str(same_host)])
    assert "| shipped | -; AMD EPYC, 2 cores, no AVX512 |" in text and f"`{same_host}`" in text


def test_a_column_that_ran_the_shipped_computation_counts_as_unchanged(tmp_path):
    baseline_dir, candidate_dir = tmp_path / "baseline", tmp_path / "candidate"
    for seed in range(3):
        _write(baseline_dir, MNIST_M, seed, {"target_test_accuracy": 0.82})
        _write(baseline_dir, UCI, seed, {"target_test_accuracy": 0.74})
        # The same computation on another host: 3 points lower by float noise alone.
        _write(candidate_dir, MNIST_M, seed, {"target_test_accuracy": 0.79, "source_stage_augmentation": "none"})
        _write(candidate_dir, UCI, seed, {"target_test_accuracy": 0.85, "source_stage_augmentation": "geometric"})
    baseline = da_table.ok_records(baseline_dir, "dann")
    candidate = da_table.ok_records(candidate_dir, "dann")

    plain = config_candidates.compare(baseline, candidate, {"candidate": ""}, 1.0, judge=ACCURACY)["candidates"][
        "candidate"
    ]
    assert not plain["verdict"]["kept"] and "3.00 points lower" in plain["verdict"]["reasons"][0]

    result = config_candidates.compare(
        baseline,
        candidate,
        {"candidate": ""},
        1.0,
        shipped_computation_when="source_stage_augmentation=none",
        judge=ACCURACY,
    )
    verdict = result["candidates"]["candidate"]["verdict"]
    assert result["shipped_computation_columns"] == [da_table.column_label(MNIST_M)]
    assert verdict["kept"] and verdict["worst_change"] == pytest.approx(0.0)
    assert verdict["candidate_mean"] == pytest.approx((82.0 + 85.0) / 2)
    assert "ran the shipped config's computation" in config_candidates.markdown(result, "w", 1.0)

    # One run that changed the computation puts the column back under the plain rule.
    _write(candidate_dir, MNIST_M, 2, {"target_test_accuracy": 0.79, "source_stage_augmentation": "geometric"})
    mixed = config_candidates.compare(
        baseline,
        da_table.ok_records(candidate_dir, "dann"),
        {"candidate": ""},
        1.0,
        shipped_computation_when="source_stage_augmentation=none",
        judge=ACCURACY,
    )
    assert mixed["shipped_computation_columns"] == []
    assert not mixed["candidates"]["candidate"]["verdict"]["kept"]
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        config_candidates.shipped_computation_columns(candidate, "source_stage_augmentation")


def test_the_label_free_judge_reads_source_accuracy_and_the_target_training_score_only(tmp_path):
    """--judge=label_free (the default): no column's source accuracy drops, the mean IM score rises;
    target test accuracy is shown but never decides."""
    baseline_dir, candidate_dir = tmp_path / "baseline", tmp_path / "candidate"
    for seed in range(3):
        for pair, source_accuracy, score in ((MNIST_M, 0.990, 1.60), (UCI, 0.985, 1.70)):
            _write(
                baseline_dir,
                pair,
                seed,
                {"target_test_accuracy": 0.90, "source_test_accuracy": source_accuracy, SCORE: score},
            )
        # Much lower on the target test splits, but better by every label-free sign: kept.
        _write(candidate_dir, MNIST_M, seed, {"target_test_accuracy": 0.50, "source_test_accuracy": 0.991, SCORE: 1.8})
        _write(candidate_dir, UCI, seed, {"target_test_accuracy": 0.50, "source_test_accuracy": 0.984, SCORE: 1.7})
    baseline = da_table.ok_records(baseline_dir, "dann")
    result = config_candidates.compare(baseline, da_table.ok_records(candidate_dir, "dann"), {"c": ""}, 1.0)
    verdict = result["candidates"]["c"]["verdict"]
    assert verdict["kept"], verdict["reasons"]
    assert verdict["candidate_mean"] == pytest.approx(1.75) and verdict["baseline_mean"] == pytest.approx(1.65)
    assert verdict["worst_change"] == pytest.approx(-0.1)  # source accuracy, in points
    assert not config_candidates.compare(
        baseline, da_table.ok_records(candidate_dir, "dann"), {"c": ""}, 1.0, judge=ACCURACY
    )["candidates"]["c"]["verdict"]["kept"]
    text = config_candidates.markdown(result, "runs/x", 1.0)
    assert "--judge=label_free" in text and "no target label is read" in text
    assert "| c | 1.800 ± 0.000 | 1.700 ± 0.000 |" in text  # the score's table

    # A source-accuracy drop beyond --max_drop reverts it, whatever the score says.
    for seed in range(3):
        _write(candidate_dir, UCI, seed, {"target_test_accuracy": 0.99, "source_test_accuracy": 0.95, SCORE: 2.2})
    dropped = config_candidates.compare(baseline, da_table.ok_records(candidate_dir, "dann"), {"c": ""}, 1.0)
    assert not dropped["candidates"]["c"]["verdict"]["kept"]
    assert "MNIST → UCI digits is 3.50 points lower" in dropped["candidates"]["c"]["verdict"]["reasons"]


def test_the_label_free_judge_does_not_judge_runs_without_the_score(tmp_path):
    """Records from before the apps wrote the score cannot be judged label-free: the shipped config
    must be rerun, not compared on target test labels by default."""
    baseline_dir, candidate_dir = tmp_path / "baseline", tmp_path / "candidate"
    for seed in range(3):
        _write(baseline_dir, MNIST_M, seed, {"target_test_accuracy": 0.70, "source_test_accuracy": 0.99})
        _write(candidate_dir, MNIST_M, seed, {"target_test_accuracy": 0.80, "source_test_accuracy": 0.99, SCORE: 1.9})
    result = config_candidates.compare(
        da_table.ok_records(baseline_dir, "dann"), da_table.ok_records(candidate_dir, "dann"), {"c": ""}, 1.0
    )
    verdict = result["candidates"]["c"]["verdict"]
    assert not verdict["kept"] and not verdict["complete"]
    assert verdict["reasons"] == ["no gain metric for MNIST → MNIST-M"]
