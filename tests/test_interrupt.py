"""Ctrl-C and SIGTERM: one line, exit status 130 / 143, the checkpoint saved, and the same command resumes.

Also: a bad input found after the run folder was set up leaves no empty run folder.

The first tests run `apps.common.run_app` in this process on a tiny model (a
callback sends the signal to this process at a chosen step); the last ones
interrupt real `apps.train_dann` processes on tiny .npz domains.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps import common
from kerasda import errors, runner
from kerasda.data import pipeline

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGE_SHAPE = (8, 8, 3)


def _tiny_classifier():
    model = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


class _SignalAtStep(keras.callbacks.Callback):
    """Send `sig` to this process as step `step` + 1 begins (`at="begin"`) or as step `step` ends (`at="end"`).

    The runner passes the number of steps done so far as `batch` to both hooks.
    """

    def __init__(self, sig, step, at="begin"):
        super().__init__()
        self.sig, self.step, self.at = sig, step, at

    def _maybe_signal(self, batch):
        if batch == self.step:
            os.kill(os.getpid(), self.sig)
            time.sleep(1)  # the handler runs at the next bytecode; never reach the next step

    def on_train_batch_begin(self, batch, logs=None):
        if self.at == "begin":
            self._maybe_signal(batch)

    def on_train_batch_end(self, batch, logs=None):
        if self.at == "end":
            self._maybe_signal(batch)


def _train_main(output_dir, sig=None, at_step=None, max_steps=20, at="begin"):
    def main(argv):
        del argv
        run = runner.Run(
            runner.RunConfig("tiny", output_dir=str(output_dir), max_steps=max_steps, log_every=1, checkpoint_every=100)
        )
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (16, *IMAGE_SHAPE), dtype=np.uint8), np.arange(16) % 3
        callbacks = [_SignalAtStep(sig, at_step, at)] if sig is not None else []
        run.train(_tiny_classifier(), pipeline.labeled_dataset(x, y, 4, seed=0), callbacks=callbacks)

    return main


def _run_app(main, monkeypatch, capsys):
    """(exit status, stderr) of `common.run_app(main)` in this process."""
    monkeypatch.setattr(sys, "argv", ["app", "--noverbose"])
    with pytest.raises(SystemExit) as exit_info:
        common.run_app(main)
    return exit_info.value.code, capsys.readouterr().err


def _saved_step(output_dir):
    latest = tf.train.latest_checkpoint(str(pathlib.Path(output_dir) / "checkpoints"))
    return None if latest is None else int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE"))


def _history_steps(output_dir):
    lines = (pathlib.Path(output_dir) / "history.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if line.strip()]


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_training_saves_prints_one_line_and_exits_128_plus_signal(
    sig, status, tmp_path, monkeypatch, capsys
):
    output_dir = tmp_path / "run"
    code, err = _run_app(_train_main(output_dir, sig, at_step=3), monkeypatch, capsys)
    assert code == status
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        f"Interrupted at step 3; the checkpoint is saved in {output_dir / 'checkpoints'}: rerun the same command"
    ), err
    assert last.endswith(" to resume.")
    assert _saved_step(output_dir) == 3
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # run_app put the old handler back
    # the same main again resumes at step 3 and logs each step once
    _train_main(output_dir, max_steps=5)([])
    assert _saved_step(output_dir) == 5 and _history_steps(output_dir) == [1, 2, 3, 4, 5]


def test_signal_after_a_step_before_its_log_keeps_every_step_in_the_history(tmp_path, monkeypatch, capsys):
    output_dir = tmp_path / "run"
    code, _ = _run_app(_train_main(output_dir, signal.SIGINT, at_step=3, at="end"), monkeypatch, capsys)
    assert code == 130 and _saved_step(output_dir) == 3
    _train_main(output_dir, max_steps=5)([])
    assert _history_steps(output_dir) == [1, 2, 3, 4, 5]


def test_sigterm_outside_training_is_a_clean_143(monkeypatch, capsys):
    def main(argv):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not stop main")

    code, err = _run_app(main, monkeypatch, capsys)
    assert code == 143 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("Interrupted")


def test_ctrl_c_before_training_removes_the_run_folder_it_created(tmp_path, monkeypatch, capsys):
    output_dir = tmp_path / "new" / "run"

    def main(argv):
        run = runner.Run(runner.RunConfig("tiny", output_dir=str(output_dir)))  # set up, nothing trained
        assert run.output_dir.is_dir()
        raise KeyboardInterrupt

    monkeypatch.setattr(common, "_existing_output_folders", lambda values: {tmp_path, *tmp_path.parents})
    code, err = _run_app(main, monkeypatch, capsys)
    assert code == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "Interrupted before training started; nothing to resume: rerun the same command to start again."
    )
    assert not (tmp_path / "new").exists()


def test_interrupted_messages():
    class FakeRun:
        output_dir = pathlib.Path("runs/dann/1")
        step = 40

    saved = KeyboardInterrupt("interrupted at step 17")
    assert common.interrupted_message(saved, FakeRun(), "runs/dann/1") == (
        "Interrupted at step 17; the checkpoint is saved in runs/dann/1/checkpoints: rerun the same command to resume."
    )
    assert common.interrupted_message(saved, FakeRun(), None) == (
        "Interrupted at step 17; the checkpoint is saved in runs/dann/1/checkpoints: rerun the same command with "
        "--output_dir=runs/dann/1 to resume."
    )
    assert common.interrupted_message(KeyboardInterrupt(), FakeRun(), "runs/dann/1") == (
        "Interrupted at step 40, outside the training loop: rerun the same command to continue from the last "
        "checkpoint in runs/dann/1/checkpoints."
    )
    assert common.interrupted_message(KeyboardInterrupt(), None, None, training_app=False) == (
        "Interrupted; rerun the same command to start again."
    )
    assert isinstance(errors.Terminated(), KeyboardInterrupt)  # so every save-on-Ctrl-C path runs for SIGTERM


def test_user_error_after_set_up_removes_only_a_new_empty_run_folder(tmp_path, monkeypatch, capsys):
    def failing_main(output_dir):
        def main(argv):
            run = runner.Run(runner.RunConfig("tiny", output_dir=str(output_dir)))  # as the apps do
            (run.output_dir / "flags.json").write_text("{}")
            raise errors.DataError("d.npz: x: NaN; fix it.")

        return main

    new = tmp_path / "a" / "new"
    existing_before = {tmp_path, *tmp_path.parents}
    monkeypatch.setattr(common, "_existing_output_folders", lambda values: existing_before)
    code, err = _run_app(failing_main(new), monkeypatch, capsys)
    assert code == 2 and err == "error: d.npz: x: NaN; fix it.\n"
    assert not (tmp_path / "a").exists()  # the run folder and the parent it created are gone

    resumed = tmp_path / "resumed"  # existed before: kept, whatever it holds
    resumed.mkdir()
    existing_before.add(resumed)
    code, _ = _run_app(failing_main(resumed), monkeypatch, capsys)
    assert code == 2 and (resumed / "flags.json").exists()

    diverged = tmp_path / "diverged"  # training diverged at once: its message names the folder, so it stays

    def diverging_main(argv):
        run = runner.Run(runner.RunConfig("tiny", output_dir=str(diverged)))
        raise runner.TrainingDiverged(1, "loss = nan", 0, run.output_dir)

    code, err = _run_app(diverging_main, monkeypatch, capsys)
    assert code == 2 and err.startswith("error: Training diverged at step 1: loss = nan.")
    assert diverged.is_dir()

    trained = tmp_path / "trained"  # new, but holds a history: kept
    run = runner.Run(runner.RunConfig("tiny", output_dir=str(trained)))
    run.append_history({"step": 1, "loss": 1.0})
    assert not common.remove_unused_run_folder(run, existing_before)
    assert (trained / "history.jsonl").exists()


# ---- real app processes ---------------------------------------------------------------------------------


def _write_domains(folder):
    rng = np.random.default_rng(0)
    for name in ("source", "target"):
        np.savez(folder / f"{name}.npz", x=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), y=np.arange(64) % 10)
    bad = rng.integers(0, 256, (64, 32, 32, 3)).astype(np.float32)
    bad[0, 0, 0, 0] = np.nan
    np.savez(folder / "nan.npz", x=bad, y=np.arange(64) % 10)


def _dann_command(folder, output_dir=None, target="target.npz"):
    command = [
        sys.executable,
        "-m",
        "apps.train_dann",
        f"--source=npz:{folder / 'source.npz'}",
        f"--target=npz:{folder / target}",
        "--max_steps=100000",
        "--max_minutes=6",
        "--batch_size=8",
        "--log_every=1",
        "--eval_every=100000",
        "--checkpoint_every=100000",
        "--source_only_steps=0",
        "--tsne_examples=0",
        "--pad_examples=0",
        f"--export_root={folder / 'exports'}",
    ]
    return command + ([f"--output_dir={output_dir}"] if output_dir else [])


def _interrupt_after(command, history, min_step, sig, cwd=REPO_ROOT):
    """Start `command`, wait until `history` logs a step >= `min_step`, send `sig`; (status, stderr)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = []
    reader = threading.Thread(target=lambda: stderr.append(child.stderr.read()), daemon=True)
    reader.start()
    deadline = time.time() + 400  # a loaded machine takes long to import TensorFlow
    try:
        while time.time() < deadline and child.poll() is None:
            if history.exists() and any(step >= min_step for step in _history_steps(history.parent)):
                break
            time.sleep(0.2)
        assert child.poll() is None, "".join(stderr)[-3000:]
        child.send_signal(sig)
        status = child.wait(120)
    finally:
        child.kill()
        child.wait()
        reader.join(10)
    return status, "".join(stderr)


def test_ctrl_c_then_sigterm_on_a_real_app_and_the_same_command_resumes(tmp_path):
    _write_domains(tmp_path)
    output_dir = tmp_path / "run"
    command = _dann_command(tmp_path, output_dir)
    history = output_dir / "history.jsonl"

    status, err = _interrupt_after(command, history, 2, signal.SIGINT)
    assert status == 130, err[-3000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Interrupted at step ") and last.endswith(
        f"; the checkpoint is saved in {output_dir / 'checkpoints'}: rerun the same command to resume."
    ), err[-3000:]
    first_stop = int(last.split("at step ")[1].split(";")[0])
    assert first_stop >= 2 and _saved_step(output_dir) == first_stop

    status, err = _interrupt_after(command, history, first_stop + 2, signal.SIGTERM)  # the same command
    assert status == 143, err[-3000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    second_stop = int(last.split("at step ")[1].split(";")[0])
    assert second_stop >= first_stop + 2 and _saved_step(output_dir) == second_stop
    # resumed, not restarted: every step logged exactly once, in order (a signal stops at a step boundary)
    assert _history_steps(output_dir) == list(range(1, second_stop + 1))
    assert not (tmp_path / "exports").exists()  # an interrupted run exports nothing


def test_bad_target_leaves_no_run_folder_explicit_or_default(tmp_path):
    _write_domains(tmp_path)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    explicit = tmp_path / "new" / "run"
    results = [
        subprocess.Popen(
            _dann_command(tmp_path, explicit, target="nan.npz"),
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            _dann_command(tmp_path, None, target="nan.npz"),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    for child in results:
        _, err = child.communicate(timeout=400)
        assert child.returncode == 2, err[-3000:]
        assert "Traceback" not in err
        (line,) = [line for line in err.splitlines() if line.startswith("error:")]
        assert "nan.npz: x: 1 of " in line and "NaN or Inf" in line, err[-3000:]
    assert not (tmp_path / "new").exists()
    assert not (tmp_path / "runs").exists()
