"""Classifier exports as a serving client sees them: raw-image signatures, saved_model_cli, a bare TF process."""

import base64
import io
import json
import os
import pathlib
import site
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasda import export
from kerasda.data import images, pipeline


def _encode(array, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    classifier = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    path = export.export_classifier(classifier, "clf", export_root=tmp_path_factory.mktemp("exports"))
    return path, tf.saved_model.load(str(path)).signatures


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).integers(0, 256, (3, 48, 40, 3), np.uint8)


def _float_probabilities(signatures, x_uint8):
    """What a client following the float contract gets: resize like the loaders, scale to [-1, 1]."""
    x = pipeline.to_model_range(images.resize_uint8(x_uint8, 32))
    return signatures["serving_default"](images=tf.constant(x))["probabilities"].numpy()


def test_uint8_signature_matches_the_float_signature_at_any_size(exported, pixels):
    _, signatures = exported
    for x in (pixels[:, :32, :32], pixels):  # native size and 48x40 (resized inside)
        expected = _float_probabilities(signatures, x)
        out = signatures["serving_uint8"](pixels=tf.constant(x))
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
        np.testing.assert_array_equal(out["classes"].numpy(), expected.argmax(-1))
    assert not np.allclose(expected[0], expected[1])  # the inputs are told apart


def test_uint8_signature_accepts_grey_and_rgba(exported, pixels):
    _, signatures = exported
    grey = pixels[..., :1]
    rgba = np.concatenate([pixels, np.full_like(pixels[..., :1], 7)], axis=-1)
    serve = signatures["serving_uint8"]
    np.testing.assert_allclose(
        serve(pixels=tf.constant(grey))["probabilities"].numpy(),
        _float_probabilities(signatures, np.repeat(grey, 3, axis=-1)),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        serve(pixels=tf.constant(rgba))["probabilities"].numpy(),
        serve(pixels=tf.constant(pixels))["probabilities"].numpy(),
        atol=1e-6,
    )


def test_bytes_signature_decodes_png_and_jpeg_of_mixed_sizes(exported, pixels):
    _, signatures = exported
    batch = [_encode(pixels[0]), _encode(pixels[1, :32, :20]), _encode(pixels[2], "JPEG")]
    out = signatures["serving_bytes"](image_bytes=tf.constant(batch))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (3, 10) and out["classes"].dtype == tf.int64
    np.testing.assert_allclose(probabilities[0], _float_probabilities(signatures, pixels[:1])[0], atol=1e-5)
    np.testing.assert_allclose(probabilities[1], _float_probabilities(signatures, pixels[1:2, :32, :20])[0], atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)


CLIENT = textwrap.dedent("""
    import base64, importlib.util, json, sys
    sys.path.append(SITE_PACKAGES)  # interpreter started with -I -S: no kerasda, no editable install
    assert importlib.util.find_spec("kerasda") is None, "kerasda must not be importable here"
    import tensorflow as tf

    request = json.loads(REQUEST)  # TF Serving REST, row format
    signatures = tf.saved_model.load(EXPORT).signatures
    serve = signatures[request["signature_name"]]
    data = [base64.b64decode(instance["b64"]) for instance in request["instances"]]
    by_bytes = serve(image_bytes=tf.constant(data))
    decoded = tf.stack([tf.io.decode_png(d, channels=3) for d in data])
    by_uint8 = signatures["serving_uint8"](pixels=decoded)
    by_float = signatures["serving_default"](images=tf.cast(decoded, tf.float32) / 127.5 - 1.0)
    print(json.dumps({
        "predictions": by_bytes["classes"].numpy().tolist(),
        "probabilities": by_bytes["probabilities"].numpy().tolist(),
        "uint8": by_uint8["classes"].numpy().tolist(),
        "float": by_float["classes"].numpy().tolist(),
        "kerasda_loaded": any(name.startswith("kerasda") for name in sys.modules),
    }))
""")


@pytest.fixture(scope="module")
def outside_processes(exported, pixels, tmp_path_factory):
    """`saved_model_cli show --all` and a bare-TensorFlow client, run side by side (each imports TF)."""
    path, _ = exported
    request = {
        "signature_name": "serving_bytes",
        "instances": [{"b64": base64.b64encode(_encode(image)).decode()} for image in pixels[:, :32, :32]],
    }
    script = (
        f"SITE_PACKAGES = {site.getsitepackages()[0]!r}\nEXPORT = {str(path)!r}\n"
        f"REQUEST = {json.dumps(request)!r}\n" + CLIENT
    )
    quiet = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": os.environ["PATH"]}
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    running = {
        "cli": subprocess.Popen(
            [str(cli), "show", "--dir", str(path), "--all"],
            env=quiet,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        "client": subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", script],
            env=quiet,
            cwd=tmp_path_factory.mktemp("client"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
    }
    results = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=240)
        results[name] = (process.returncode, stdout, stderr)
    return results


def test_saved_model_cli_shows_all_three_signatures(outside_processes):
    returncode, text, stderr = outside_processes["cli"]
    assert returncode == 0, stderr[-2000:]
    for name in ("serving_default", "serving_uint8", "serving_bytes"):
        assert f"signature_def['{name}']" in text
    uint8 = text.split("signature_def['serving_uint8']")[1].split("signature_def[")[0]
    assert (
        "inputs['pixels'] tensor_info:" in uint8 and "dtype: DT_UINT8" in uint8 and "shape: (-1, -1, -1, -1)" in uint8
    )
    raw = text.split("signature_def['serving_bytes']")[1].split("signature_def[")[0]
    assert "inputs['image_bytes'] tensor_info:" in raw and "dtype: DT_STRING" in raw
    assert "outputs['probabilities']" in raw and "outputs['classes']" in raw


def test_a_process_with_only_tensorflow_serves_a_tf_serving_style_request(exported, pixels, outside_processes):
    _, signatures = exported
    returncode, stdout, stderr = outside_processes["client"]
    assert returncode == 0, stderr[-3000:]
    answer = json.loads(stdout.strip().splitlines()[-1])
    expected = _float_probabilities(signatures, pixels[:, :32, :32])
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-5)
    assert answer["predictions"] == answer["uint8"] == answer["float"] == expected.argmax(-1).tolist()
    assert answer["kerasda_loaded"] is False
