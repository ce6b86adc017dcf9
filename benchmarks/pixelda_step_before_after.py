"""Is PixelDA's restructured train step (two updates in plain view) as fast as the old one?

    python -m benchmarks.pixelda_step_before_after                      # old = ff3c567, new = HEAD
    python -m benchmarks.pixelda_step_before_after --before=<commit> --after=<commit> --pairs=4

The old step ran D/T's update inside G's tape (under `stop_recording`); the new one
(b69a179, issue 13) writes the two updates one after the other on a single G forward
pass. Both trees are checked out into temporary `git worktree`s and timed by the same
`benchmarks.pixelda_throughput` (the bare `PixelDA.train_step`, synthetic batches) in
separate processes, alternating before / after for --pairs rounds so that a change in
the machine's load hits both alike. Reports the median steps/s of each and their ratio.

Writes benchmarks/results/pixelda_step_before_after.{json,md}.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from absl import app, flags

from benchmarks import harness

FLAGS = flags.FLAGS
flags.DEFINE_string("before", "ff3c567", "Commit with the old step (D/T updated inside G's tape).")
flags.DEFINE_string("after", "HEAD", "Commit with the new step.")
flags.DEFINE_list("candidates", ["g32b4_d32", "paper"], "PixelDA sizes (benchmarks.pixelda_throughput CANDIDATES).")
flags.DEFINE_integer("pairs", 3, "Alternating before/after rounds.")
flags.DEFINE_float("seconds", 20.0, "Timed seconds per candidate per process.")
flags.DEFINE_string("output_name", "pixelda_step_before_after", "Results file name under benchmarks/results/.")

REPO = pathlib.Path(__file__).resolve().parents[1]


def git(*args):
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def time_tree(tree, label):
    """One process of benchmarks.pixelda_throughput in `tree`; returns {candidate: steps/s}."""
    name = f"_before_after_{label}"
    command = [
        sys.executable,
        "-m",
        "benchmarks.pixelda_throughput",
        f"--candidates={','.join(FLAGS.candidates)}",
        f"--seconds={FLAGS.seconds}",
        "--rounds=1",
        f"--output_name={name}",
    ]
    subprocess.run(command, cwd=tree, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(tree)})
    results = json.loads((pathlib.Path(tree) / "benchmarks" / "results" / f"{name}.json").read_text())["results"]
    return {candidate: r["steps_per_second"] for candidate, r in results.items()}


def main(argv):
    del argv
    commits = {"before": git("rev-parse", FLAGS.before), "after": git("rev-parse", FLAGS.after)}
    load_before = os.getloadavg()
    rates = {label: {c: [] for c in FLAGS.candidates} for label in commits}
    with tempfile.TemporaryDirectory() as scratch:
        trees = {}
        for label, commit in commits.items():
            trees[label] = pathlib.Path(scratch) / label
            git("worktree", "add", "--detach", "-f", str(trees[label]), commit)
        try:
            for round_index in range(FLAGS.pairs):
                order = ("before", "after") if round_index % 2 == 0 else ("after", "before")
                for label in order:
                    for candidate, rate in time_tree(trees[label], label).items():
                        rates[label][candidate].append(rate)
                print(f"round {round_index + 1}/{FLAGS.pairs}: {rates}", flush=True)
        finally:
            for tree in trees.values():
                git("worktree", "remove", "--force", str(tree))
    load_after = os.getloadavg()
    medians = {label: {c: float(np.median(v)) for c, v in by_c.items()} for label, by_c in rates.items()}
    ratios = {c: medians["after"][c] / medians["before"][c] for c in FLAGS.candidates}
    rows = [
        [c, f"{medians['before'][c]:.3f}", f"{medians['after'][c]:.3f}", f"{ratios[c]:.3f}"] for c in FLAGS.candidates
    ]
    markdown = (
        "# PixelDA train step, before and after the restructuring (issue 13)\n\n"
        f"before = {commits['before'][:10]} (D/T update inside G's tape), after = {commits['after'][:10]} "
        f"(two updates in plain view, one G forward pass). Bare `train_step`, batch 32, synthetic data, "
        f"{FLAGS.pairs} alternating rounds of {FLAGS.seconds:g} s per candidate; median steps/s.\n"
        f"Load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}.\n\n"
        + harness.markdown_table(["candidate", "before steps/s", "after steps/s", "after / before"], rows)
    )
    payload = {
        "commits": commits,
        "candidates": FLAGS.candidates,
        "pairs": FLAGS.pairs,
        "seconds": FLAGS.seconds,
        "rates": rates,
        "median_steps_per_second": medians,
        "after_over_before": ratios,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    harness.write_results(FLAGS.output_name, payload, markdown)


if __name__ == "__main__":
    app.run(main)
