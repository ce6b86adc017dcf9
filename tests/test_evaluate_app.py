"""apps.evaluate reads the input size from the export's signature, so 28x28 exports score too."""

import tensorflow as tf

from kerasda import export
from kerasda.evaluation.served import signature_image_size
from kerasda.networks.digits import build_digits_classifier


def test_signature_image_size_follows_the_export(tmp_path):
    for size in (28, 32):
        classifier = build_digits_classifier((size, size, 3), 10)
        path = export.export_classifier(classifier, "tiny", (size, size, 3), export_dir=tmp_path / str(size))
        serving_fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        assert signature_image_size(serving_fn) == size
