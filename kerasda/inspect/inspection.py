"""Run every inspection on one classifier and write figures, metrics.json and TensorBoard images.

Shared by `apps.inspect` and the benchmark, so the app stays a flag parser.
"""

import dataclasses
import json
import pathlib

import numpy as np
import tensorflow as tf

from kerasda.inspect import adversarial, figures, saliency
from kerasda.inspect.class_visualisation import VisualisationConfig, class_visualisation

MODES = ("saliency", "adversarial", "class_visualisation", "robustness")


@dataclasses.dataclass
class InspectionConfig:
    """What to compute. Epsilons are L-inf budgets in grey levels (x / 255 of the pixel range)."""

    modes: tuple = MODES
    num_figure_images: int = 8
    smoothgrad_samples: int = 16
    noise_level: float = 0.15
    attack_step_size: float = 0.1
    attack_max_steps: int = 200
    epsilons: tuple = (0, 1, 2, 4, 8, 16)
    fgsm_steps: tuple = (1, 10)
    visualisation: VisualisationConfig = dataclasses.field(default_factory=VisualisationConfig)
    seed: int = 0

    def __post_init__(self):
        unknown = set(self.modes) - set(MODES)
        if unknown:
            raise ValueError(f"Unknown modes {sorted(unknown)}; choose from {MODES}.")
        if any(e < 0 for e in self.epsilons):
            raise ValueError(f"epsilons must be >= 0, got {self.epsilons}.")


def random_other_classes(labels, num_classes, seed=0):
    """A uniformly random class different from each label (the attack's targets)."""
    offsets = np.random.default_rng(seed).integers(1, num_classes, len(labels))
    return (np.asarray(labels) + offsets) % num_classes


def inspect(classifier, images, labels, config):
    """Compute the configured inspections; returns (arrays dict, metrics dict).

    `images` are float in the classifier's value range, `labels` their classes;
    figures use the first `num_figure_images`, the numbers use all of them.
    """
    labels = np.asarray(labels, np.int64)
    shown = slice(0, config.num_figure_images)
    predicted = classifier.predict_classes(images)
    arrays = {"images": images[shown], "labels": labels[shown], "predicted": predicted[shown]}
    metrics = {
        "num_images": int(len(images)),
        "clean_accuracy": float(np.mean(predicted == labels)),
        "score_kind": classifier.score_kind,
    }
    if "saliency" in config.modes:
        arrays["saliency"] = saliency.saliency_maps(classifier, images[shown], labels[shown])
        if config.smoothgrad_samples:
            arrays["smoothgrad"] = saliency.saliency_maps(
                classifier,
                images[shown],
                labels[shown],
                config.smoothgrad_samples,
                config.noise_level,
                seed=config.seed,
            )
    if "adversarial" in config.modes:
        targets = random_other_classes(labels, classifier.num_classes, config.seed)
        attack = adversarial.targeted_attack(
            classifier, images, targets, config.attack_step_size, config.attack_max_steps
        )
        arrays.update(adversarial=attack.adversarial[shown], targets=targets[shown], attack_steps=attack.steps[shown])
        metrics["targeted_attack"] = {
            **attack.summary(),
            "step_size": config.attack_step_size,
            "max_steps": config.attack_max_steps,
            "norm_unit": "full pixel range (1.0 = black to white)",
        }
    if "class_visualisation" in config.modes:
        vis_images, history = class_visualisation(classifier, np.arange(classifier.num_classes), config.visualisation)
        arrays["class_visualisation"] = vis_images
        metrics["class_visualisation"] = {
            "initial_scores": history[0].tolist(),
            "final_scores": history[-1].tolist(),
            "predicted_as_own_class": float(
                np.mean(classifier.predict_classes(vis_images) == np.arange(classifier.num_classes))
            ),
            **dataclasses.asdict(config.visualisation),
        }
    if "robustness" in config.modes:
        epsilons = np.asarray(config.epsilons, np.float64) / 255.0
        metrics["robustness"] = {"epsilons_grey_levels": list(config.epsilons)}
        for steps in config.fgsm_steps:
            curve = adversarial.robustness_curve(classifier, images, labels, epsilons, steps)
            metrics["robustness"][f"fgsm_steps{steps}_accuracy"] = curve.tolist()
    return arrays, metrics


def write_outputs(arrays, metrics, output_dir, name, value_range=(-1.0, 1.0)):
    """figures/*.png, metrics.json and the figures as TensorBoard images under tensorboard/."""
    out = pathlib.Path(output_dir)
    written = []
    if "saliency" in arrays:
        maps = {"gradient": arrays["saliency"]}
        if "smoothgrad" in arrays:
            maps["SmoothGrad"] = arrays["smoothgrad"]
        captions = [f"y={y} p={p}" for y, p in zip(arrays["labels"], arrays["predicted"])]
        written.append(
            figures.saliency_figure(
                arrays["images"],
                maps,
                out / "figures" / "saliency.png",
                value_range,
                captions,
                f"{name}: saliency of the true class",
            )
        )
    if "adversarial" in arrays:
        written.append(
            figures.adversarial_figure(
                arrays["images"],
                arrays["adversarial"],
                arrays["labels"],
                arrays["targets"],
                arrays["attack_steps"],
                out / "figures" / "adversarial.png",
                value_range,
                f"{name}: targeted L2 walk",
            )
        )
    if "class_visualisation" in arrays:
        written.append(
            figures.class_visualisation_figure(
                {name: arrays["class_visualisation"]},
                list(range(len(arrays["class_visualisation"]))),
                out / "figures" / "class_visualisation.png",
                value_range,
            )
        )
    if "robustness" in metrics:
        robustness = metrics["robustness"]
        curves = {key.replace("_accuracy", ""): value for key, value in robustness.items() if key.endswith("_accuracy")}
        written.append(
            figures.robustness_figure(
                np.asarray(robustness["epsilons_grey_levels"]) / 255.0,
                curves,
                out / "figures" / "robustness.png",
                f"{name}: accuracy under FGSM",
            )
        )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    writer = tf.summary.create_file_writer(str(out / "tensorboard"))
    with writer.as_default():
        for path in written:
            image = tf.image.decode_png(tf.io.read_file(str(path)), channels=3)
            tf.summary.image(f"inspect/{path.stem}", image[None], step=0)
        for key, value in metrics.get("robustness", {}).items():
            if key.endswith("_accuracy"):
                for eps, accuracy in zip(metrics["robustness"]["epsilons_grey_levels"], value):
                    tf.summary.scalar(f"robustness/{key}", accuracy, step=int(eps))
    writer.close()
    return written
