"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 train DANN through the runner.

Both workers must end with identical weights, and only the chief (worker 0)
may write checkpoints, TensorBoard events, history and exports; worker 1 writes
to a temporary folder that is gone when it exits.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
STEPS = 4


def _worker(index, ports, output_dir, export_root, weights_path):
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )
    from kerasda import distribute

    strategy = distribute.build_strategy("multi_worker")  # before any other TF op
    import keras
    import tensorflow as tf

    from kerasda import export, runner
    from kerasda.models.builders import build_digits_dann

    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, (64, 28, 28, 3)).astype("float32")
    ys = rng.integers(0, 10, 64)
    xt = rng.uniform(-1, 1, (64, 28, 28, 3)).astype("float32")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = (
        tf.data.Dataset.from_tensor_slices(((xs, ys), xt)).repeat().batch(8, drop_remainder=True).with_options(options)
    )
    with strategy.scope():
        keras.utils.set_random_seed(index)  # different initial draws: the strategy must sync them
        model = build_digits_dann((28, 28, 3), padding="valid", total_steps=STEPS)
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    run = runner.Run(
        runner.RunConfig("multi_worker", output_dir=str(output_dir), max_steps=STEPS, log_every=1, checkpoint_every=2)
    )
    result = run.train(model, dataset, examples_per_step=16)
    export_path = export.export_classifier(
        model.classifier, "dann_classifier", (28, 28, 3), distribute.worker_dir(export_root), None
    )
    np.savez(weights_path, *model.get_weights())
    print(
        "RESULT "
        + json.dumps(
            {
                "chief": distribute.is_chief(),
                "output_dir": str(run.output_dir),
                "export_path": str(export_path),
                "losses": [r["loss"] for r in result.history],
                "lambda": float(model.gradient_reversal.lambda_.numpy()),
            }
        ),
        flush=True,
    )


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_identical_weights_and_only_the_chief_writes(tmp_path):
    ports = _free_ports(2)
    output_dir, export_root = tmp_path / "run", tmp_path / "exports"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                str(i),
                *map(str, ports),
                str(output_dir),
                str(export_root),
                str(tmp_path / f"weights{i}.npz"),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=300)
        lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
        assert worker.returncode == 0 and lines, stderr[-4000:]
        results.append(json.loads(lines[-1][len("RESULT ") :]))
    chief, other = results
    assert chief["chief"] and not other["chief"]

    weights = [np.load(tmp_path / f"weights{i}.npz") for i in range(2)]
    assert len(weights[0].files) == len(weights[1].files) > 0
    for key in weights[0].files:
        np.testing.assert_array_equal(weights[0][key], weights[1][key])
    assert chief["losses"] == other["losses"] and len(chief["losses"]) == STEPS
    assert all(np.isfinite(chief["losses"]))
    assert chief["lambda"] == other["lambda"] > 0  # the schedule advanced once per global step

    # The chief wrote everything once; worker 1's temporary folders are gone.
    assert chief["output_dir"] == str(output_dir)
    assert other["output_dir"] != str(output_dir) and not pathlib.Path(other["output_dir"]).exists()
    assert not pathlib.Path(other["export_path"]).exists()
    history = [json.loads(line) for line in (output_dir / "history.jsonl").read_text().splitlines()]
    assert [record["step"] for record in history] == list(range(1, STEPS + 1))
    assert len(list((output_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1
    checkpoints = sorted(p.name for p in (output_dir / "checkpoints").glob("ckpt-*.index"))
    assert checkpoints == ["ckpt-2.index", "ckpt-4.index"]
    assert [p.name for p in export_root.iterdir()] == ["dann_classifier"]
    assert len(list((export_root / "dann_classifier").iterdir())) == 1
    assert pathlib.Path(chief["export_path"]).is_dir()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    index, port0, port1, output_dir, export_root, weights_path = sys.argv[1:]
    _worker(int(index), [int(port0), int(port1)], output_dir, export_root, weights_path)
