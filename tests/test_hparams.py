"""HParams sessions, final metrics and learning-rate scalars, read back as TensorBoard reads them."""

import math
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from kerasda import runner
from kerasda.callbacks import hparams


def _read(logdir):
    """{tag: [(step, value)]} of the scalar-valued tensors, and the HParams session's {name: value}."""
    accumulator = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    scalars, session = {}, None
    for tag in accumulator.Tags()["tensors"]:
        if tag == hparams_metadata.SESSION_START_INFO_TAG:
            content = accumulator.SummaryMetadata(tag).plugin_data.content
            info = hparams_metadata.parse_session_start_info_plugin_data(content)
            session = {name: getattr(value, value.WhichOneof("kind")) for name, value in info.hparams.items()}
        elif accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":  # not images
            scalars[tag] = [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]
    return scalars, session


class _TwoOptimizers(keras.Model):
    """A GAN-shaped model: two optimizers as attributes, one of them also `model.optimizer`."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.d_optimizer = keras.optimizers.Adam(2e-4)
        self.g_optimizer = keras.optimizers.SGD(
            keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5, staircase=True)
        )

    def call(self, x):
        return self.dense(x)


def test_learning_rates_reads_each_optimizer_once_at_its_current_step():
    model = _TwoOptimizers()
    model.compile(optimizer=model.g_optimizer)
    assert hparams.learning_rates(model) == pytest.approx(
        {"learning_rate/d_optimizer": 2e-4, "learning_rate/g_optimizer": 0.1}
    )
    model.g_optimizer.iterations.assign(4)  # two staircase halvings
    assert hparams.learning_rates(model)["learning_rate/g_optimizer"] == pytest.approx(0.025)
    single = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    single.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    assert hparams.learning_rates(single) == pytest.approx({"learning_rate": 1e-3})


def test_hparam_and_metric_values_keep_what_the_plugin_accepts():
    values = hparams.hparam_values(
        {
            "lr": np.float32(0.5),
            "steps": np.int64(3),
            "xla": False,
            "source": "mnist",
            "datasets": ["mnist", "bsds500"],
            "max_minutes": None,
            "path": tf.constant(1).dtype,
        }
    )
    assert values == {
        "lr": 0.5,
        "steps": 3,
        "xla": False,
        "source": "mnist",
        "datasets": "mnist,bsds500",
        "path": "<dtype: 'int32'>",
    }
    assert type(values["steps"]) is int and type(values["lr"]) is float
    finals = hparams.final_metric_values(
        {"accuracy": np.float64(0.75), "steps": 10, "nan": math.nan, "flag": True, "details": {"a": 1}, "name": "x"}
    )
    assert finals == {"accuracy": 0.75, "steps": 10.0}


def test_runner_logs_the_scheduled_learning_rate_and_hparams_session(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    schedule = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=6)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    data = tf.data.Dataset.from_tensors((tf.ones([4, 3]), tf.ones([4, 1]))).repeat()
    run = runner.Run(
        runner.RunConfig(
            "hp", output_dir=str(tmp_path / "run"), max_steps=6, log_every=2, eval_every=6, checkpoint_every=6
        )
    )
    run.train(model, data)
    written, finals = hparams.log_hparams(
        run.writer,
        {"learning_rate": 0.01, "optimizer": "sgd", "max_minutes": None},
        {"target_test_accuracy": 0.625, "steps": 6, "confusion": [[1]]},
    )
    scalars, session = _read(run.tensorboard_dir)

    rates = scalars["learning_rate"]
    assert [step for step, _ in rates] == [2, 4, 6]
    for step, value in rates:  # the rate of the optimizer's iteration count at that step
        assert value == pytest.approx(float(schedule(step)), rel=1e-5)
    assert rates[0][1] > rates[1][1] > rates[2][1]
    assert "loss" in scalars  # the model's own scalars are still there
    assert scalars["final/target_test_accuracy"] == [(6, 0.625)]
    assert scalars["final/steps"] == [(6, 6.0)]
    assert session == {"learning_rate": 0.01, "optimizer": "sgd"} == written
    assert finals == {"target_test_accuracy": 0.625, "steps": 6.0}


def test_apps_summarise_writes_the_flags_session_and_final_metrics(tmp_path):
    from absl import flags

    from apps import common

    flag_values = flags.FlagValues()
    flags.DEFINE_float("learning_rate", 0.001, "", flag_values=flag_values, module_name="apps.train_x")
    flags.DEFINE_bool("logtostderr", False, "", flag_values=flag_values, module_name="absl.logging")
    values = hparams.app_flag_values(flag_values)
    assert values == {"learning_rate": 0.001}  # absl's own flags are not hyper-parameters

    writer = tf.summary.create_file_writer(str(tmp_path))
    fake_run = types.SimpleNamespace(writer=writer, output_dir=tmp_path)
    common.summarise(fake_run, {"target_test_accuracy": 0.5, "steps": 3}, ["target_test_accuracy"])
    scalars, session = _read(tmp_path)
    assert scalars["final/target_test_accuracy"] == [(3, 0.5)]
    assert session is not None  # the process's app flags (whatever this pytest run has defined)


def test_an_app_run_carries_its_flags_into_the_hparams_tab(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.train_source_only",
            "--flagfile=apps/configs/source_only_mnist_to_mnistm.cfg",
            f"--data_dir={tiny_data_dir}",
            f"--output_dir={out}",
            f"--export_root={tmp_path / 'exports'}",
            "--max_steps=4",
            "--log_every=2",
            "--eval_every=4",
            "--checkpoint_every=4",
            "--batch_size=16",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scalars, session = _read(out / "tensorboard")
    assert session["max_steps"] == 4 and session["source"] == "mnist" and session["batch_size"] == 16
    assert "learning_rate" in session  # the app's own flag
    assert [step for step, _ in scalars["learning_rate"]] == [2, 4]
    assert scalars["learning_rate"][1][1] < scalars["learning_rate"][0][1]  # the cosine decay
    assert {"final/source_test_accuracy", "final/target_test_accuracy", "final/steps"} <= set(scalars)
