"""Transfer learning: features of a trained network + an SVM (C chosen on validation), or a new dense head.

    python -m apps.transfer --backbone=saved_models/source_only_classifier/1 --domain=mnist_m
    python -m apps.transfer --backbone=keras:MobileNetV2 --weights=imagenet --image_size=96 \
        --domain=folder:/data/kvasir

`--backbone` is a kerasda digits-tower export (rebuilt as a Keras model, see
kerasda.inspect.model_access), a `.keras` file, or `keras:<Name>` for a
`keras.applications` network (`--weights`: none, imagenet (downloads), or a
local .weights.h5). Writes figures/c_sweep.png, figures/head_curves.png and
metrics.json (see docs/inspect.md).
"""

import datetime
import json
import pathlib

import keras
import tensorflow as tf
from absl import flags

from apps import common
from kerasda import validation
from kerasda.errors import DataError, FlagError, UserError
from kerasda.inspect import figures, model_access, transfer

flags.DEFINE_string("backbone", None, "Digits export folder, .keras file, or keras:<ApplicationName>.", required=True)
flags.DEFINE_string("weights", "none", "keras: backbones only: none, imagenet (downloads) or a .weights.h5 path.")
flags.DEFINE_string(
    "layer",
    None,
    "Layer whose output are the features; default the penultimate (classifiers) "
    "or the pooled output (keras.applications).",
)
flags.DEFINE_string("domain", "mnist_m", "The new task, named as the apps' --source (e.g. folder:<kvasir dir>).")
flags.DEFINE_string("data_dir", None, "Dataset root; default $KERASDA_DATA_DIR.")
flags.DEFINE_integer("image_size", 32, "Input size of keras: backbones (exports and .keras files use their own).")
flags.DEFINE_float(
    "center_crop", 1.0, "Keep this central fraction of each image (e.g. 0.75 drops Kvasir's corner box)."
)
flags.DEFINE_integer("num_train", 2000, "Training images (seeded subset; 0 = all), split again into train/validation.")
flags.DEFINE_float("validation_fraction", 0.2, "Fraction of --num_train held out to choose C and watch the heads.")
flags.DEFINE_integer("num_test", 2000, "Test images (seeded subset; 0 = all).")
flags.DEFINE_list("svm_cs", ["0.001", "0.01", "0.1", "1", "10"], "C values of the SVM sweep.")
flags.DEFINE_enum("svm_kernel", "linear", ["linear", "rbf"], "SVM kernel.")
flags.DEFINE_list("modes", ["svm", "frozen", "finetune"], "Any of svm, frozen, finetune.")
flags.DEFINE_list("head_units", ["100"], "Hidden widths of the new head.")
flags.DEFINE_integer("head_epochs", 10, "Epochs of each head training.")
flags.DEFINE_integer("batch_size", 64, "Head training batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam rate of the frozen-backbone head.")
flags.DEFINE_float("fine_tune_learning_rate", 3e-4, "Adam rate when the whole network is fine-tuned.")
flags.DEFINE_integer("seed", 0, "Subsets, splits, initialisation.")
flags.DEFINE_string("output_dir", None, "Default runs/transfer/<timestamp>.")
FLAGS = flags.FLAGS


MODES = ("svm", "frozen", "finetune")


def check_transfer_flags():
    """Raise a FlagError for the first transfer flag that cannot work (before any model or image is loaded)."""
    spec = FLAGS.backbone
    if spec.startswith("keras:"):
        name = spec[len("keras:") :]
        if not callable(getattr(keras.applications, name, None)):
            raise FlagError(
                f"--backbone={spec}: keras.applications has no network {name!r}; expected e.g. "
                "keras:MobileNetV2 or keras:ResNet50."
            )
        weights = FLAGS.weights
        if weights.lower() not in ("none", "imagenet") and not pathlib.Path(weights).expanduser().is_file():
            raise FlagError(f"--weights={weights} does not exist; expected none, imagenet or a .weights.h5 file.")
    else:
        validation.check_model_path(spec, "--backbone")
        if FLAGS.weights.lower() != "none":
            raise FlagError(
                f"--weights={FLAGS.weights} applies to keras: backbones; exports and .keras files "
                "carry their own weights: drop --weights."
            )
    if not 0 < FLAGS.validation_fraction < 1:
        raise FlagError(
            f"--validation_fraction={FLAGS.validation_fraction}: expected a number in (0, 1) (it "
            "chooses C and watches the heads)."
        )
    if not 0 < FLAGS.center_crop <= 1:
        raise FlagError(f"--center_crop={FLAGS.center_crop}: expected a number in (0, 1].")
    cs = validation.parse_numbers(FLAGS.svm_cs, "svm_cs", float)
    if min(cs) <= 0:
        raise FlagError(f"--svm_cs={','.join(FLAGS.svm_cs)}: expected C values > 0.")
    units = validation.parse_numbers(FLAGS.head_units, "head_units", int, minimum=1)
    return validation.check_choices(FLAGS.modes, "modes", MODES), tuple(cs), tuple(units)


def _load(loader, path):
    """`loader(path)`, with a damaged or foreign file reported as a DataError naming --backbone."""
    try:
        return loader(path)
    except UserError:
        raise
    except (OSError, ValueError, tf.errors.OpError) as error:
        raise DataError(
            f"--backbone={path} cannot be loaded ({type(error).__name__}: {error}); expected a "
            "kerasda digits export or a .keras model."
        ) from error


def backbone_factory():
    """(factory, image_size): a fresh backbone per call, so fine-tuning never leaks into the next run."""
    spec = FLAGS.backbone
    if spec.startswith("keras:"):
        weights = None if FLAGS.weights.lower() == "none" else FLAGS.weights
        name = spec[len("keras:") :]
        return (lambda: transfer.keras_application_backbone(name, FLAGS.image_size, weights)), FLAGS.image_size
    if spec.endswith(".keras"):
        model = _load(keras.saving.load_model, spec)
        return (lambda: keras.saving.load_model(spec)), int(model.input_shape[1])
    loaded = _load(tf.saved_model.load, spec)
    image_size = int(_load(lambda _: model_access.digits_tower_from_export(loaded), spec).input_shape[1])
    return (lambda: model_access.digits_tower_from_export(loaded)), image_size


def main(argv):
    del argv
    modes, cs, units = check_transfer_flags()
    keras.utils.set_random_seed(FLAGS.seed)
    factory, image_size = backbone_factory()
    domain, train, validation, test = transfer.load_transfer_splits(
        FLAGS.domain,
        image_size,
        FLAGS.num_train,
        FLAGS.num_test,
        FLAGS.validation_fraction,
        FLAGS.center_crop,
        FLAGS.seed,
        FLAGS.data_dir,
    )
    config = transfer.TransferConfig(
        layer=FLAGS.layer,
        svm_cs=cs,
        svm_kernel=FLAGS.svm_kernel,
        modes=modes,
        head=transfer.HeadConfig(
            hidden_units=units,
            epochs=FLAGS.head_epochs,
            batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate,
            fine_tune_learning_rate=FLAGS.fine_tune_learning_rate,
            seed=FLAGS.seed,
        ),
        seed=FLAGS.seed,
    )
    result = transfer.transfer_study(factory, domain.num_classes, train, validation, test, config)
    result = {
        "backbone": FLAGS.backbone,
        "weights": FLAGS.weights,
        "domain": domain.name,
        "class_names": list(map(str, domain.class_names)),
        "image_size": image_size,
        "center_crop": FLAGS.center_crop,
        **result,
    }
    out = pathlib.Path(FLAGS.output_dir or f"runs/transfer/{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    title = f"{pathlib.Path(FLAGS.backbone).name} [{result['layer']}] -> {domain.name}"
    if "svm" in result:
        svm = result["svm"]
        figures.c_sweep_figure(
            svm["cs"],
            svm["validation_accuracy"],
            out / "figures" / "c_sweep.png",
            svm["test_accuracy_per_c"],
            svm["best_c"],
            title,
        )
        print(
            f"SVM ({svm['kernel']}): C = {svm['best_c']:g} chosen on validation, "
            f"test accuracy {svm['test_accuracy']:.4f}"
        )
    histories = {mode: result[f"head_{mode}"]["history"] for mode in ("frozen", "finetune") if f"head_{mode}" in result}
    if histories:
        figures.head_curves_figure(histories, out / "figures" / "head_curves.png", title)
        for mode in histories:
            print(f"new head, backbone {mode}: test accuracy {result[f'head_{mode}']['test_accuracy']:.4f}")
    (out / "metrics.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    common.run_app(main)
