"""Evaluate an exported classifier (SavedModel `serving_default`) on a domain's test split.

    python -m apps.evaluate --model=saved_models/dann_classifier/1 --domain=mnist_m

Prints accuracy and macro P/R/F1, writes metrics.json and a confusion-matrix PNG
to --output_dir. It loads the export with plain `tf.saved_model.load`, exactly as
a serving client would. The domain's images are loaded at the size the export's
signature takes (28x28 for DANN's and ADDA's shipped towers, 32x32 else) and
scaled to [-1, 1]; a folder that is not a classifier export, or a domain with a
different number of classes, is refused before any image is served.
"""

import json
import pathlib

import tensorflow as tf
from absl import flags

from apps import common
from kerasda import validation
from kerasda.data import load_domain
from kerasda.errors import DataError
from kerasda.evaluation import metrics, plots
from kerasda.evaluation.served import serve_classes, signature_image_size

flags.DEFINE_string("model", None, "Path of an exported SavedModel version folder.", required=True)
flags.DEFINE_string("domain", "mnist_m", "Domain to test on, named as the apps' --source.")
flags.DEFINE_string("data_dir", None, "Dataset root; default $KERASDA_DATA_DIR.")
flags.DEFINE_integer("seed", 0, "MNIST-M synthesis seed / split seed.")
flags.DEFINE_integer("batch_size", 512, "Images per serving call.")
flags.DEFINE_string("output_dir", None, "Where to write metrics.json and the confusion matrix (optional).")
FLAGS = flags.FLAGS


def load_classifier(model):
    """(loaded SavedModel, its `serving_default`), refused unless it is a classifier export (images -> classes).

    The loaded object is returned too: the signature needs it alive.
    """
    path = validation.check_model_path(model, "--model", keras_file=False)
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as error:  # TF raises several types for damaged SavedModels
        raise DataError(
            f"--model={path} cannot be loaded ({type(error).__name__}: {error}); export it again."
        ) from error
    if "serving_default" not in loaded.signatures:
        raise DataError(
            f"--model={path} has signatures {sorted(loaded.signatures)}; expected serving_default "
            "(a classifier export)."
        )
    serving_fn = loaded.signatures["serving_default"]
    inputs, outputs = serving_fn.structured_input_signature[1], serving_fn.structured_outputs
    if "images" not in inputs or "classes" not in outputs:
        raise DataError(
            f"--model={path}: serving_default takes {sorted(inputs)} and returns {sorted(outputs)}; expected "
            "images -> classes (a classifier export, e.g. saved_models/dann_classifier/1)."
        )
    return loaded, serving_fn


def main(argv):
    del argv
    loaded, serving_fn = load_classifier(FLAGS.model)
    size = signature_image_size(serving_fn)
    domain = load_domain(FLAGS.domain, data_dir=FLAGS.data_dir, seed=FLAGS.seed, image_size=size)
    num_outputs = (
        serving_fn.structured_outputs["probabilities"].shape[-1]
        if ("probabilities" in serving_fn.structured_outputs)
        else None
    )
    if num_outputs is not None and num_outputs != domain.num_classes:
        raise DataError(
            f"--model={FLAGS.model} predicts {num_outputs} classes but --domain={FLAGS.domain} has "
            f"{domain.num_classes}; evaluate on a domain with the export's classes."
        )
    print(
        f"{domain.name}: {len(domain.x_test)} test images served at {size}x{size} (the export's input size), "
        "scaled to [-1, 1]."
    )
    predicted = serve_classes(serving_fn, domain.x_test, FLAGS.batch_size)
    del loaded
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
    common.run_app(main)
