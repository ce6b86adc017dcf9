"""Evaluate an exported classifier (SavedModel `serving_default`) on a domain's test split.

    python -m apps.evaluate --model=saved_models/dann_classifier/1 --domain=mnist_m

Prints accuracy and macro P/R/F1, writes metrics.json and a confusion-matrix PNG
to --output_dir. It loads the export with plain `tf.saved_model.load`, exactly as
a serving client would.
"""

import json
import pathlib

import numpy as np
import tensorflow as tf
from absl import app, flags

from kerasda.data import load_domain, pipeline
from kerasda.evaluation import metrics, plots

flags.DEFINE_string("model", None, "Path of an exported SavedModel version folder.", required=True)
flags.DEFINE_string("domain", "mnist_m", "Domain to test on, named as the apps' --source.")
flags.DEFINE_string("data_dir", None, "Dataset root; default $KERASDA_DATA_DIR.")
flags.DEFINE_integer("seed", 0, "MNIST-M synthesis seed / split seed.")
flags.DEFINE_integer("batch_size", 512, "Images per serving call.")
flags.DEFINE_string("output_dir", None, "Where to write metrics.json and the confusion matrix (optional).")
FLAGS = flags.FLAGS


def serve_classes(serving_fn, x_uint8, batch_size):
    """Class predictions from a `serving_default` signature over uint8 images."""
    classes = []
    for start in range(0, len(x_uint8), batch_size):
        images = pipeline.to_model_range(x_uint8[start : start + batch_size])
        classes.append(serving_fn(images=tf.constant(images))["classes"].numpy())
    return np.concatenate(classes)


def signature_image_size(serving_fn):
    """The square image size the signature takes (28 for DANN's and ADDA's shipped towers, 32 else)."""
    spec = serving_fn.structured_input_signature[1]["images"]
    height, width = spec.shape[1], spec.shape[2]
    if height is None or height != width:
        raise ValueError(f"Expected a square [N, S, S, 3] 'images' input, got {spec.shape}.")
    return int(height)


def main(argv):
    del argv
    serving_fn = tf.saved_model.load(FLAGS.model).signatures["serving_default"]
    domain = load_domain(
        FLAGS.domain, data_dir=FLAGS.data_dir, seed=FLAGS.seed, image_size=signature_image_size(serving_fn)
    )
    predicted = serve_classes(serving_fn, domain.x_test, FLAGS.batch_size)
    report = metrics.classification_metrics(domain.y_test, predicted, domain.num_classes)
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro"):
        print(f"{domain.name} test {key}: {report[key]:.4f}")
    if FLAGS.output_dir:
        out = pathlib.Path(FLAGS.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps({"model": FLAGS.model, "domain": domain.name, **report}, indent=2))
        figure = plots.confusion_matrix_figure(
            report["confusion_matrix"], list(domain.class_names), f"{domain.name} test: {report['accuracy']:.2%}"
        )
        figure.savefig(out / f"confusion_{domain.name}.png", bbox_inches="tight")


if __name__ == "__main__":
    app.run(main)
