"""What every benchmark script shares: run an app, describe the machine, write results."""

import json
import os
import pathlib
import platform
import subprocess
import sys
import time

RESULTS_DIR = pathlib.Path(__file__).parent / "results"
REPO_ROOT = pathlib.Path(__file__).parent.parent
CONFIGS_DIR = REPO_ROOT / "apps" / "configs"


def machine_info():
    """CPU model, core count and library versions, stored beside every figure."""
    import keras
    import tensorflow as tf

    cpu = platform.processor()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def run_app(module, flagfile, output_dir, extra_flags=(), log_path=None):
    """Run `python -m <module>` with a flagfile; returns (metrics.json dict, wall seconds)."""
    command = [sys.executable, "-m", module, f"--flagfile={flagfile}", f"--output_dir={output_dir}", *extra_flags]
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    with open(log_path or os.devnull, "w") as log:
        subprocess.run(command, check=True, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    metrics = json.loads((pathlib.Path(output_dir) / "metrics.json").read_text())
    return metrics, wall


def _literal(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_flagfile(name):
    """A shipped flagfile of apps/configs/ as {flag: value}, so that a benchmark builds what the app
    builds without copying its numbers. `--flag=value` lines (numbers converted), bare `--flag` is
    True and `--noflag` False; comments and blank lines are skipped."""
    values = {}
    for line in (CONFIGS_DIR / name).read_text().splitlines():
        line = line.strip()
        if not line.startswith("--"):
            continue
        flag, has_value, text = line[2:].partition("=")
        if has_value:
            values[flag] = _literal(text)
        elif flag.startswith("no"):
            values[flag[2:]] = False
        else:
            values[flag] = True
    return values


def read_history(run_dir):
    """The records of a finished run's history.jsonl, one per logged step."""
    path = pathlib.Path(run_dir) / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def write_results(name, payload, markdown):
    """Write results/<name>.json (with machine info) and results/<name>.md."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine_info(), **payload}
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2, sort_keys=True))
    (RESULTS_DIR / f"{name}.md").write_text(markdown)
    print(markdown)
    return payload


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
