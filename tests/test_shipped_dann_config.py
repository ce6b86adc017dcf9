"""The shipped DANN flagfile builds what its comment and the DA table describe.

The app tests run the app with this flagfile, which catches an unknown flag, but not a flag that is
parsed and then not used. This builds the model and the augmentation exactly as `apps.train_dann`
does (through its own flag helpers), in a subprocess so the app's flags stay out of this process.
"""

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

_PROBE = """
import json, sys
import numpy as np
from absl import flags
from apps import common, train_dann
from kerasda.data import augmentation
from kerasda.models.builders import build_digits_dann

FLAGS = flags.FLAGS
FLAGS(["train_dann", "--flagfile=apps/configs/dann_mnist_to_mnistm.cfg"])
size = FLAGS.image_size
dann = build_digits_dann((size, size, 3), 10, **train_dann.tower_options())


def all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


dropout = [layer for layer in all_layers(dann.feature_extractor) if layer.__class__.__name__ == "SpatialDropout2D"]

# A batch of sharp checkerboards: a resolution loss blurs them, the geometric jitter alone does not
# change their contrast much.
checker = (np.indices((size, size)).sum(axis=0) % 2).astype("float32")
images = np.repeat(np.repeat(checker[None, :, :, None], 64, axis=0), 3, axis=-1) * 2.0 - 1.0
shipped = np.asarray(common.augmentation_from_flags()(images, 3))
geometric = np.asarray(augmentation.build_augmentation("geometric", seed=FLAGS.seed)(images, 3))
changed = np.abs(shipped - geometric).reshape(64, -1).max(axis=1) > 1e-3
json.dump({
    "augmentation": FLAGS.augmentation,
    "dropout_rates": [float(layer.rate) for layer in dropout],
    "changed_fraction": float(changed.mean()),
    "shipped_std": float(shipped.std(axis=(1, 2, 3)).mean()),
    "geometric_std": float(geometric.std(axis=(1, 2, 3)).mean()),
    "image_size": size,
    "padding": FLAGS.padding,
}, sys.stdout)
"""


def test_the_shipped_dann_flagfile_builds_dropout_and_the_resolution_jitter():
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=REPO, check=True, capture_output=True, text=True, timeout=300
    )
    probe = json.loads(completed.stdout.strip().splitlines()[-1])
    assert probe["augmentation"] == "geometric_resolution"
    assert probe["dropout_rates"] == [0.5]
    assert (probe["image_size"], probe["padding"]) == (28, "valid")
    # About half the images (ResolutionJitter.probability = 0.5) lose resolution on top of the
    # geometric jitter, and losing it lowers a checkerboard's contrast.
    assert 0.25 <= probe["changed_fraction"] <= 0.75
    assert probe["shipped_std"] < probe["geometric_std"]
