"""benchmarks.loop_vs_bare on tiny synthetic domains: every builder, and the timings of two cheap methods."""

import math

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import harness, loop_vs_bare
from kerasda.data.domain import Domain

BATCH = 8


def tiny_domains(image_size, n=2 * BATCH, seed=0):
    """(source, unlabeled target): random uint8 images of `image_size`, labels 0..9."""
    rng = np.random.default_rng(seed)

    def domain(name):
        def images():
            return rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8)

        labels = np.arange(n) % 10
        return Domain(name, images(), labels, images(), labels)

    return domain("mnist"), domain("mnist_m").unlabeled()


@pytest.mark.parametrize("method", list(loop_vs_bare.METHODS))
def test_builder_batch_matches_the_app_dataset(method):
    spec = loop_vs_bare.METHODS[method]
    source, target = tiny_domains(spec.image_size)
    setup = spec.build(spec.settings, source, target, BATCH, 0)
    batch_spec = tf.nest.map_structure(tf.TensorSpec.from_tensor, setup.batch)
    assert tf.nest.map_structure(lambda s: (s.shape, s.dtype), setup.dataset.element_spec) == tf.nest.map_structure(
        lambda s: (s.shape, s.dtype), batch_spec
    )
    assert setup.examples_per_step in (BATCH, 2 * BATCH)


@pytest.mark.parametrize("method", ["source_only", "adda"])
def test_bare_loop_and_ratio(method):
    source, target = tiny_domains(loop_vs_bare.METHODS[method].image_size)
    result = loop_vs_bare.measure(method, source, target, seconds=0.5, loop_steps=5, batch_size=BATCH)
    for key in ("bare_before", "bare_after"):
        assert result[key]["steps"] > 0
        assert result[key]["images_per_second"] > 0
    assert result["loop"]["steps"] == 5
    assert result["loop"]["images_per_second"] > 0
    assert math.isfinite(result["loop_over_bare"]) and result["loop_over_bare"] > 0


def test_app_flags_are_each_apps_defaults_under_its_flagfile(tmp_path):
    (tmp_path / "dann.cfg").write_text("# comment\n--max_steps=7\n--nogrl\n--padding=valid\n\n")
    (tmp_path / "source_only.cfg").write_text("--learning_rate=0.5\n")
    dann, source_only = harness.app_flags(
        [("apps.train_dann", tmp_path / "dann.cfg"), ("apps.train_source_only", tmp_path / "source_only.cfg")]
    )
    assert (dann.values["max_steps"], dann.values["grl"], dann.values["padding"]) == (7, False, "valid")
    assert dann.present == {"max_steps", "grl", "padding"}
    assert "batch_norm" in dann.values and "image_size" in dann.values  # defaults the flagfile leaves unset
    assert source_only.values["learning_rate"] == 0.5 and source_only.present == {"learning_rate"}
    assert "grl" not in source_only.values  # the first app's flags were removed before the second


@pytest.mark.parametrize("method", list(loop_vs_bare.METHODS))
def test_loop_settings_come_from_the_shipped_flagfile(method):
    spec = loop_vs_bare.METHODS[method]
    config = spec.loop_config()
    assert {"batch_size", "log_every"} <= spec.flags.present
    assert (config.batch_size, config.log_every) == (spec.settings["batch_size"], spec.settings["log_every"])
    assert config.eval_every > 0 and config.checkpoint_every > 0
    assert 0 < config.loop_steps <= config.checkpoint_every
    if spec.steps_per_epoch_of and "checkpoint_every" not in spec.flags.present:  # the GAN app's epoch
        assert config.checkpoint_every == spec.steps_per_epoch_of // config.batch_size


def test_pixelda_builder_uses_the_flagfile_hyper_parameters():
    spec = loop_vs_bare.METHODS["pixelda"]
    settings = spec.settings
    source, target = tiny_domains(spec.image_size)
    model = spec.build(settings, source, target, BATCH, 0).model
    for name in ("generator_filters", "generator_blocks", "discriminator_filters", "domain_loss_weight"):
        assert getattr(model.hparams, name) == settings[name]
