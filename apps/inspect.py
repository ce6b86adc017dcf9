"""Look inside an exported classifier: saliency, targeted adversarial examples, class visualisation, FGSM robustness.

    python -m apps.inspect --model=saved_models/dann_classifier/1 --domain=mnist_m \
        --modes=saliency,adversarial,class_visualisation,robustness

`--model` is a SavedModel version folder (`serving_default(images) -> probabilities`)
or a `.keras` file. Writes figures/*.png, metrics.json and TensorBoard images to
--output_dir (see docs/inspect.md).
"""

import datetime
import pathlib

import numpy as np
import tensorflow as tf
from absl import flags, logging

from apps import common
from kerasda import validation
from kerasda.data import load_domain, pipeline
from kerasda.errors import DataError, FlagError, UserError
from kerasda.inspect import inspection, load_classifier
from kerasda.inspect.class_visualisation import VisualisationConfig

flags.DEFINE_string("model", None, "SavedModel version folder or .keras file of a classifier.", required=True)
flags.DEFINE_enum(
    "score",
    "auto",
    ["auto", "logits", "log_probabilities"],
    "Score to differentiate: auto = logits when the model gives them (kerasda digits exports, "
    ".keras), else log-probabilities from the serving signature.",
)
flags.DEFINE_string("domain", "mnist_m", "Domain whose test split is inspected, named as the apps' --source.")
flags.DEFINE_string("data_dir", None, "Dataset root; default $KERASDA_DATA_DIR.")
flags.DEFINE_string("output_dir", None, "Default runs/inspect/<timestamp>.")
flags.DEFINE_list("modes", list(inspection.MODES), f"Any of {', '.join(inspection.MODES)}.")
flags.DEFINE_integer("num_images", 500, "Test images (a seeded random subset) for the attack and robustness numbers.")
flags.DEFINE_integer("num_figure_images", 8, "Images shown in the saliency and adversarial figures.")
flags.DEFINE_integer("seed", 0, "Subset, attack targets, SmoothGrad noise, visualisation start.")
flags.DEFINE_integer("smoothgrad_samples", 16, "Noisy copies per image for SmoothGrad (0 = off).")
flags.DEFINE_float("noise_level", 0.15, "SmoothGrad noise std as a fraction of the pixel range.")
flags.DEFINE_float("attack_step_size", 0.1, "Targeted walk: L2 step length (fraction of the pixel range).")
flags.DEFINE_integer("attack_max_steps", 200, "Targeted walk: most steps per image.")
flags.DEFINE_list("epsilons", ["0", "1", "2", "4", "8", "16"], "FGSM L-inf budgets in grey levels (/255).")
flags.DEFINE_list("fgsm_steps", ["1", "10"], "FGSM iterations per curve: 1 = FGSM, more = iterative FGSM.")
flags.DEFINE_integer("vis_iterations", 200, "Class visualisation: gradient-ascent steps.")
flags.DEFINE_float("vis_learning_rate", 0.05, "Class visualisation: step per iteration (RMS-normalised gradient).")
flags.DEFINE_float("vis_l2_weight", 0.01, "Class visualisation: lambda of the squared-L2 penalty.")
flags.DEFINE_integer("vis_jitter", 2, "Class visualisation: random shift in pixels (0 = off).")
flags.DEFINE_integer("vis_blur_every", 10, "Class visualisation: blur every N steps (0 = off).")
flags.DEFINE_float("vis_blur_sigma", 0.5, "Class visualisation: blur std in pixels.")
FLAGS = flags.FLAGS


def config_from_flags():
    """The InspectionConfig of the flags; a FlagError names the first list flag that cannot be read."""
    epsilons = validation.parse_numbers(FLAGS.epsilons, "epsilons", float, minimum=0)
    fgsm_steps = validation.parse_numbers(FLAGS.fgsm_steps, "fgsm_steps", int, minimum=1)
    return inspection.InspectionConfig(
        modes=validation.check_choices(FLAGS.modes, "modes", inspection.MODES),
        num_figure_images=FLAGS.num_figure_images,
        smoothgrad_samples=FLAGS.smoothgrad_samples,
        noise_level=FLAGS.noise_level,
        attack_step_size=FLAGS.attack_step_size,
        attack_max_steps=FLAGS.attack_max_steps,
        epsilons=tuple(epsilons),
        fgsm_steps=tuple(fgsm_steps),
        visualisation=VisualisationConfig(
            iterations=FLAGS.vis_iterations,
            learning_rate=FLAGS.vis_learning_rate,
            l2_weight=FLAGS.vis_l2_weight,
            jitter=FLAGS.vis_jitter,
            blur_every=FLAGS.vis_blur_every,
            blur_sigma=FLAGS.vis_blur_sigma,
            seed=FLAGS.seed,
        ),
        seed=FLAGS.seed,
    )


def test_subset(domain, count, seed):
    """A seeded random subset of the test split (uint8 images, labels)."""
    order = np.random.default_rng(seed).permutation(len(domain.y_test))[:count]
    return domain.x_test[order], domain.y_test[order]


def load_model_from_flags():
    """The --model classifier; a path, kind or file that cannot work is a UserError naming --model."""
    path = validation.check_model_path(FLAGS.model, "--model")
    if path.suffix == ".keras" and FLAGS.score == "log_probabilities":
        raise FlagError(
            f"--model={path} --score=log_probabilities: a .keras model gives logits; use "
            "--score=auto or logits, or pass a SavedModel export."
        )
    try:
        return load_classifier(str(path), score=FLAGS.score)
    except UserError:
        raise
    except (OSError, ValueError, tf.errors.OpError) as error:  # damaged, foreign or not a classifier
        raise DataError(
            f"--model={path} cannot be loaded as a classifier ({type(error).__name__}: {error}); expected an "
            "export of apps.train_* (images -> probabilities) or a .keras classifier."
        ) from error


def main(argv):
    del argv
    config = config_from_flags()
    classifier = load_model_from_flags()
    size = classifier.image_shape[0]
    domain = load_domain(FLAGS.domain, data_dir=FLAGS.data_dir, seed=FLAGS.seed, image_size=size)
    x, y = test_subset(domain, FLAGS.num_images, FLAGS.seed)
    images = pipeline.to_model_range(x, classifier.value_range)
    output_dir = pathlib.Path(FLAGS.output_dir or f"runs/inspect/{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    arrays, metrics = inspection.inspect(classifier, images, y, config)
    metrics = {"model": FLAGS.model, "domain": domain.name, "image_size": size, **metrics}
    written = inspection.write_outputs(
        arrays, metrics, output_dir, f"{classifier.name} on {domain.name}", classifier.value_range
    )
    logging.info("Wrote %s and metrics.json to %s", ", ".join(p.name for p in written), output_dir)
    print(f"{classifier.name} on {domain.name}: clean accuracy {metrics['clean_accuracy']:.4f}")
    if "targeted_attack" in metrics:
        t = metrics["targeted_attack"]
        print(
            f"targeted attack: success {t['success_rate']:.2%}, median steps {t['median_steps']}, "
            f"median L2 {t['median_l2']:.3f}"
        )
    for key, value in metrics.get("robustness", {}).items():
        if key.endswith("_accuracy"):
            print(f"{key} at eps {metrics['robustness']['epsilons_grey_levels']}: {np.round(value, 4).tolist()}")


if __name__ == "__main__":
    common.run_app(main)
