"""What every benchmark script shares: run an app, read its flags, describe the machine, write results."""

import dataclasses
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

    cpu, flags = platform.processor(), set()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == platform.processor():
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": cpu,
        # oneDNN picks different kernels with AVX512, and adversarial training amplifies the rounding
        # differences: the same ADDA run scored 82.37% on an AVX512 host and 78.16% without.
        "avx512": any(flag.startswith("avx512") for flag in flags),
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


@dataclasses.dataclass(frozen=True)
class AppFlags:
    """The flags an app runs with: every value (its defaults under the flagfile's lines) and the
    names the flagfile set (apps such as train_gan derive what was left unset)."""

    values: dict
    present: frozenset


# Each app defines its flags on absl's one global registry when imported, so two apps cannot share a
# process unless the first one's flags are deleted (and its modules forgotten) before the second.
_APP_FLAGS_CHILD = """
import importlib, json, sys
from absl import flags
FLAGS = flags.FLAGS
found = []
for module, flagfile in json.loads(sys.argv[1]):
    importlib.import_module(module)
    FLAGS([module, "--flagfile=" + flagfile])
    names = sorted({f.name for m, fs in FLAGS.flags_by_module_dict().items() if m.startswith("apps.") for f in fs})
    found.append({"values": {n: FLAGS[n].value for n in names}, "present": [n for n in names if FLAGS[n].present]})
    for name in names:
        delattr(FLAGS, name)
    for loaded in [m for m in sys.modules if m == "apps" or m.startswith("apps.")]:
        del sys.modules[loaded]
print(json.dumps(found))
"""


def app_flags(apps_and_flagfiles):
    """[AppFlags] of each (app module, flagfile in apps/configs/ or a path), as `python -m app
    --flagfile=...` would parse them, so a benchmark builds what the app builds without copying
    its numbers or its defaults. One child process reads them all (an app import costs ~5 s)."""
    pairs = [(module, str(CONFIGS_DIR / flagfile)) for module, flagfile in apps_and_flagfiles]
    child = subprocess.run(
        [sys.executable, "-c", _APP_FLAGS_CHILD, json.dumps(pairs)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if child.returncode != 0:
        raise RuntimeError(f"Reading the flags of {pairs} failed:\n{child.stderr[-3000:]}")
    found = json.loads(child.stdout.strip().splitlines()[-1])
    return [AppFlags(entry["values"], frozenset(entry["present"])) for entry in found]


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
