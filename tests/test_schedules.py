"""DANN's lambda schedule, the annealed learning rate and the optimizer helper."""

import math

import keras
import numpy as np
import pytest

from kerasda import schedules


def _f(x):
    return float(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize(
    "progress, expected",
    [(0.0, 0.0), (0.5, 2.0 / (1.0 + math.exp(-5.0)) - 1.0), (1.0, 2.0 / (1.0 + math.exp(-10.0)) - 1.0)],
)
def test_dann_lambda_at_start_middle_and_end(progress, expected):
    assert _f(schedules.dann_lambda(progress)) == pytest.approx(expected, abs=1e-6)


def test_dann_lambda_values_by_hand():
    assert _f(schedules.dann_lambda(0.5)) == pytest.approx(0.986614, abs=1e-6)
    assert _f(schedules.dann_lambda(1.0)) == pytest.approx(0.999909, abs=1e-6)
    assert _f(schedules.dann_lambda(0.1, gamma=1.0)) == pytest.approx(0.049958, abs=1e-6)


def test_adaptation_schedule_follows_progress_and_saturates():
    schedule = schedules.AdaptationSchedule(total_steps=1000, gamma=10.0, lambda_max=0.5)
    assert _f(schedule(0)) == pytest.approx(0.0)
    assert _f(schedule(500)) == pytest.approx(0.5 * 0.986614, abs=1e-6)
    assert _f(schedule(5000)) == pytest.approx(_f(schedule(1000)))  # p clipped at 1


def test_constant_adaptation_schedule_is_lambda_max_from_step_zero():
    schedule = schedules.AdaptationSchedule(total_steps=10, kind="constant", lambda_max=0.3)
    assert [_f(schedule(s)) for s in (0, 5, 10)] == pytest.approx([0.3] * 3)


def test_adaptation_schedule_config_round_trip():
    schedule = schedules.AdaptationSchedule(100, kind="paper", gamma=5.0, lambda_max=2.0)
    clone = schedules.AdaptationSchedule.from_config(schedule.get_config())
    assert _f(clone(37)) == pytest.approx(_f(schedule(37)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"total_steps": 10, "kind": "linear"}, "linear"),
        ({"total_steps": 0}, "total_steps"),
        ({"total_steps": 10, "gamma": -1.0}, "gamma"),
        ({"total_steps": 10, "lambda_max": -0.1}, "lambda_max"),
    ],
)
def test_adaptation_schedule_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        schedules.AdaptationSchedule(**kwargs)


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.01), (500, 0.01 / 6.0**0.75), (1000, 0.01 / 11.0**0.75), (2000, 0.01 / 11.0**0.75)],
)
def test_annealed_learning_rate_at_p_0_half_1_and_beyond(step, expected):
    rate = schedules.AnnealedLearningRate(0.01, total_steps=1000)
    assert _f(rate(step)) == pytest.approx(expected, rel=1e-6)


def test_annealed_learning_rate_serialises():
    rate = schedules.AnnealedLearningRate(0.02, total_steps=300, alpha=5.0, beta=0.5)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(rate))
    assert isinstance(clone, schedules.AnnealedLearningRate)
    assert _f(clone(100)) == pytest.approx(_f(rate(100)))


def test_build_optimizer_sgd_is_the_papers_annealed_momentum_sgd():
    optimizer = schedules.build_optimizer("sgd", 0.01, total_steps=100)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == pytest.approx(0.9)
    assert isinstance(optimizer._learning_rate, schedules.AnnealedLearningRate)


def test_build_optimizer_adam_with_constant_rate():
    optimizer = schedules.build_optimizer("adam", 1e-3, anneal=False)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert _f(optimizer.learning_rate) == pytest.approx(1e-3)


def test_build_optimizer_rejects_unknown_name_and_missing_total_steps():
    with pytest.raises(ValueError, match="rmsprop"):
        schedules.build_optimizer("rmsprop")
    with pytest.raises(ValueError, match="total_steps"):
        schedules.build_optimizer("sgd", 0.01, total_steps=None, anneal=True)


def test_training_progress_is_clipped_to_one():
    assert np.allclose([_f(schedules.training_progress(s, 4)) for s in (0, 2, 4, 8)], [0, 0.5, 1, 1])


def test_dann_takes_exactly_the_lambda_schedules_defined_here():
    from kerasda.models import build_digits_dann

    assert schedules.LAMBDA_SCHEDULES == ("paper", "constant", "external")
    for kind in schedules.LAMBDA_SCHEDULES:
        model = build_digits_dann((16, 16, 3), padding="valid", lambda_schedule=kind, total_steps=10)
        assert (model.adaptation_schedule is None) == (kind == "external")
    with pytest.raises(ValueError, match="lambda_schedule must be one of .*'external'"):
        build_digits_dann((16, 16, 3), padding="valid", lambda_schedule="linear")
    with pytest.raises(ValueError, match="kind must be one of \\('paper', 'constant'\\)"):
        schedules.AdaptationSchedule(10, kind="external")
