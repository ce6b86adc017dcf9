"""PixelDA's generator SavedModel: reloads in a fresh process and adapts MNIST-like digits."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from kerasda import export
from kerasda.models import PixelDA, PixelDAConfig

# Run in a separate interpreter: nothing from this test process (Keras objects,
# registered classes, kerasda itself) can help the SavedModel load.
RELOAD_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
export_dir, inputs_path, outputs_path = sys.argv[1:]
inputs = np.load(inputs_path)
loaded = tf.saved_model.load(export_dir)
adapt = loaded.signatures["adapt"]
out = adapt(images=tf.constant(inputs["images"]), noise=tf.constant(inputs["noise"]))["images"].numpy()
np.save(outputs_path, out)
print(json.dumps({"signatures": sorted(loaded.signatures.keys()),
                  "inputs": sorted(k for k in adapt.structured_input_signature[1])}))
"""


def mnist_like_batch(n=6):
    """White strokes on black, 32x32 RGB in [-1, 1], as the pipeline feeds MNIST."""
    images = np.full((n, 32, 32, 3), -1.0, np.float32)
    for i in range(n):
        images[i, 6:26, 4 + 3 * i : 8 + 3 * i, :] = 1.0  # a "1" at a different place each
        images[i, 6:9, 8:24, :] = 1.0  # and a top bar: a "7"-like shape
    return images


def test_generator_export_reloads_in_fresh_process_and_adapts_digits(tmp_path):
    model = PixelDA(PixelDAConfig(generator_filters=8, generator_blocks=1, discriminator_filters=8))
    model.compile()
    rng = np.random.default_rng(0)
    (source, labels) = mnist_like_batch(4), rng.integers(0, 10, 4)
    model.train_step(((tf.constant(source), tf.constant(labels)), tf.constant(source)))  # non-initial BN stats

    path = export.export_model(model, "pixelda_generator", export_root=tmp_path / "exports")
    assert path == tmp_path / "exports" / "pixelda_generator" / "1"
    images = mnist_like_batch(6)
    noise = rng.uniform(-1, 1, (6, 10)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", images=images, noise=noise)
    completed = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(path), str(tmp_path / "inputs.npz"), str(tmp_path / "out.npy")],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    info = json.loads(completed.stdout.strip().splitlines()[-1])
    assert info["signatures"] == ["adapt", "serving_default"]
    assert info["inputs"] == ["images", "noise"]

    adapted = np.load(tmp_path / "out.npy")
    assert adapted.shape == (6, 32, 32, 3)
    assert adapted.min() >= -1.0 and adapted.max() <= 1.0
    # The SavedModel is the trained generator in inference mode, not a re-initialised copy.
    np.testing.assert_allclose(adapted, model.adapt(images, noise).numpy(), atol=1e-5)
