"""What the digits classifiers look at, and how easily they are fooled: source-only vs adapted.

    KERASDA_DATA_DIR=../shared/data python -m benchmarks.inspect_classifiers \
        --exports=source_only=runs/da_table/.../source_only_classifier/1,dann=...,adda=...,pixelda=...

For each export (any `serving_default` classifier; digits towers are rebuilt
for logits, anything else, e.g. PixelDA's task classifier, is differentiated
through its signature's log-probabilities) and each domain (MNIST, MNIST-M):
clean accuracy, FGSM and iterative FGSM accuracy against epsilon, and
the median steps / L2 norm of the targeted walk to a random other class, on
the same seeded test images for every model. Saliency: SmoothGrad maps side
by side on the same MNIST-M images, and the share of saliency that falls on
the digit's strokes, measured on synthesised MNIST-M (whose test image i is
MNIST test digit i blended into a photo, so the stroke mask is known).
Class visualisations of every model, one row each.

Writes results/inspect_classifiers.{json,md} and results/inspect_figures/*.png.
"""

import argparse
import os
import pathlib
import time

import numpy as np

from benchmarks import harness
from kerasda.data import images as image_ops
from kerasda.data import load_domain, pipeline
from kerasda.data.mnist_m import binarize_and_pad
from kerasda.inspect import (
    VisualisationConfig,
    class_visualisation,
    figures,
    load_classifier,
    mass_inside,
    robustness_curve,
    saliency_maps,
    targeted_attack,
)
from kerasda.inspect.inspection import random_other_classes

RUNS = pathlib.Path("runs/da_table")
DEFAULT_EXPORTS = {
    "source_only": RUNS / "source_only__mnist__to__mnist_m__seed0__821b52275f/exports/source_only_classifier/1",
    "dann": RUNS / "dann__mnist__to__mnist_m__seed0__c385782e8a/exports/dann_classifier/1",
    "adda": RUNS / "adda__mnist__to__mnist_m__seed0__2ec410bc29/exports/adda_classifier/1",
}
FIGURES = harness.RESULTS_DIR / "inspect_figures"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--exports",
        default=",".join(f"{k}={v}" for k, v in DEFAULT_EXPORTS.items()),
        help="name=path,... of serving_default classifiers (add pixelda=<PixelDA export>).",
    )
    parser.add_argument("--data_dir", default=os.environ.get("KERASDA_DATA_DIR"))
    parser.add_argument("--domains", default="mnist,mnist_m")
    parser.add_argument("--num_robustness", type=int, default=200, help="test images for the FGSM curves")
    parser.add_argument("--num_attack", type=int, default=50, help="test images for the targeted walk")
    parser.add_argument("--attack_step_size", type=float, default=0.25, help="L2 step, fraction of the pixel range")
    parser.add_argument("--attack_max_steps", type=int, default=100)
    parser.add_argument("--iterative_steps", type=int, default=5, help="steps of the iterative FGSM curve")
    parser.add_argument("--num_saliency", type=int, default=200, help="images for the stroke-mass measure")
    parser.add_argument("--num_figure", type=int, default=8)
    parser.add_argument("--epsilons", default="0,2,4,8,16,32,64", help="grey levels (/255)")
    parser.add_argument("--smoothgrad_samples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def stroke_masks(data_dir, indices, size):
    """Binarised MNIST test digits padded to 32x32 (the synthesis recipe), resized to `size`."""
    mnist = load_domain("mnist", data_dir=data_dir, image_size=28)
    grey = mnist.x_test[indices][..., 0]
    masks = binarize_and_pad(grey)  # 255 on strokes, 0 elsewhere, 32x32
    if size != masks.shape[1]:
        masks = image_ops.resize_uint8(np.repeat(masks[..., None], 3, -1), size)[..., 0]
    return masks > 127


def synth_images(data_dir, indices, size):
    synth = load_domain("mnist_m_synth", data_dir=data_dir, image_size=32)
    x = synth.x_test[indices]
    return (image_ops.resize_uint8(x, size) if size != 32 else x), synth.y_test[indices]


def main():
    args = parse_args()
    exports = dict(item.split("=", 1) for item in args.exports.split(","))
    domains = args.domains.split(",")
    epsilons = [float(e) for e in args.epsilons.split(",")]
    start, load_before = time.perf_counter(), os.getloadavg()
    classifiers = {name: load_classifier(path, name=name) for name, path in exports.items()}
    rng = np.random.default_rng(args.seed)
    results = {
        name: {"export": str(exports[name]), "score_kind": c.score_kind, "image_size": c.image_shape[0]}
        for name, c in classifiers.items()
    }
    figure_images, saliency = {}, {}
    for domain_name in domains:
        domain_by_size = {}
        order = None
        for name, classifier in classifiers.items():
            size = classifier.image_shape[0]
            if size not in domain_by_size:
                domain_by_size[size] = load_domain(domain_name, data_dir=args.data_dir, image_size=size)
            domain = domain_by_size[size]
            if order is None:  # the same test images for every model
                order = rng.permutation(len(domain.y_test))
            x = pipeline.to_model_range(domain.x_test[order[: args.num_robustness]], classifier.value_range)
            y = domain.y_test[order[: args.num_robustness]]
            entry = results[name].setdefault(domain_name, {})
            entry["clean_accuracy"] = float(np.mean(classifier.predict_classes(x) == y))
            for steps in (1, args.iterative_steps):
                entry[f"fgsm_steps{steps}_accuracy"] = robustness_curve(
                    classifier, x, y, np.asarray(epsilons) / 255.0, steps
                ).tolist()
            n = args.num_attack
            attack = targeted_attack(
                classifier,
                x[:n],
                random_other_classes(y[:n], 10, args.seed),
                args.attack_step_size,
                args.attack_max_steps,
            )
            entry["targeted_attack"] = attack.summary()
            if domain_name == "mnist_m":
                shown = x[: args.num_figure]
                figure_images[name] = shown
                saliency[name] = saliency_maps(
                    classifier, shown, y[: args.num_figure], args.smoothgrad_samples, seed=args.seed
                )
            print(name, domain_name, entry, flush=True)

    # Saliency on the strokes: synthesised MNIST-M (known masks) and MNIST.
    idx = np.random.default_rng(args.seed + 1).permutation(10000)[: args.num_saliency]
    for name, classifier in classifiers.items():
        size = classifier.image_shape[0]
        masks = stroke_masks(args.data_dir, idx, size)
        synth_x, synth_y = synth_images(args.data_dir, idx, size)
        mnist = load_domain("mnist", data_dir=args.data_dir, image_size=size)
        for label, (x_uint8, y) in {
            "mnist_m_synth": (synth_x, synth_y),
            "mnist": (mnist.x_test[idx], mnist.y_test[idx]),
        }.items():
            x = pipeline.to_model_range(x_uint8, classifier.value_range)
            if label == "mnist":
                # MNIST at `size` is the 28x28 digit resized, not padded: its own ink is the mask.
                stroke = x_uint8[..., 0] > 0
            else:
                stroke = masks
            maps = saliency_maps(classifier, x, y, args.smoothgrad_samples, seed=args.seed)
            results[name].setdefault("saliency_on_strokes", {})[label] = {
                "mean_fraction": float(mass_inside(maps, stroke).mean()),
                "stroke_area_fraction": float(stroke.mean()),
                "accuracy": float(np.mean(classifier.predict_classes(x) == y)),
            }
        print(name, results[name]["saliency_on_strokes"], flush=True)

    vis = {
        name: class_visualisation(c, np.arange(10), VisualisationConfig(seed=args.seed))
        for name, c in classifiers.items()
    }
    for name, (_, history) in vis.items():
        results[name]["class_visualisation_score_gain"] = float(np.mean(history[-1] - history[0]))

    FIGURES.mkdir(parents=True, exist_ok=True)
    figures.saliency_figure(
        figure_images,
        saliency,
        FIGURES / "saliency_mnist_m.png",
        title="SmoothGrad saliency of the true class on MNIST-M (same images)",
    )
    figures.class_visualisation_figure(
        {n: v[0] for n, v in vis.items()}, list(range(10)), FIGURES / "class_visualisation.png"
    )
    for domain_name in domains:
        for steps in (1, args.iterative_steps):
            figures.robustness_figure(
                np.asarray(epsilons) / 255.0,
                {n: results[n][domain_name][f"fgsm_steps{steps}_accuracy"] for n in classifiers},
                FIGURES / f"robustness_{domain_name}_steps{steps}.png",
                f"{'FGSM' if steps == 1 else f'{steps}-step iterative FGSM'} on {domain_name} "
                f"({args.num_robustness} test images)",
            )
    payload = {
        "config": vars(args),
        "epsilons_grey_levels": epsilons,
        "models": results,
        "wall_seconds": time.perf_counter() - start,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    harness.write_results("inspect_classifiers", payload, markdown(payload, domains, epsilons, args))


def markdown(payload, domains, epsilons, args):
    models = payload["models"]
    lines = [
        "# Inspecting the digits classifiers (source-only vs adapted)",
        "",
        f"Wall {payload['wall_seconds']:.0f} s; load average before/after "
        f"{payload['load_average_before'][0]:.1f}/{payload['load_average_after'][0]:.1f} "
        "(2 shared CPU cores). Same seeded test images for every model.",
        "",
    ]
    eps_cols = [f"eps {e:g}" for e in epsilons]
    for domain_name in domains:
        for steps in (1, args.iterative_steps):
            lines.append(
                f"## {domain_name}: accuracy under {'FGSM' if steps == 1 else f'{steps}-step iterative FGSM'}"
                " (L-inf, eps in grey levels /255)"
            )
            lines.append("")
            rows = [[n, *[f"{a:.3f}" for a in models[n][domain_name][f"fgsm_steps{steps}_accuracy"]]] for n in models]
            lines.append(harness.markdown_table(["model", *eps_cols], rows))
    lines.append(
        f"## Targeted L2 walk to a random other class ({args.num_attack} images, step {args.attack_step_size} "
        f"of the pixel range, at most {args.attack_max_steps} steps; median over those that reached it)"
    )
    lines.append("")
    rows = []
    for n in models:
        for domain_name in domains:
            t = models[n][domain_name]["targeted_attack"]
            rows.append(
                [
                    n,
                    domain_name,
                    f"{t['success_rate']:.0%}",
                    f"{t['median_steps']:g}",
                    f"{t['median_l2']:.3f}",
                    f"{t['median_linf']:.3f}",
                ]
            )
    lines.append(
        harness.markdown_table(["model", "domain", "reached", "median steps", "median L2", "median L-inf"], rows)
    )
    lines.append("## Share of SmoothGrad saliency on the digit's strokes")
    lines.append("")
    rows = []
    for n in models:
        s = models[n]["saliency_on_strokes"]
        rows.append(
            [
                n,
                *[
                    f"{s[k]['mean_fraction']:.3f} (area {s[k]['stroke_area_fraction']:.3f}, acc {s[k]['accuracy']:.3f})"
                    for k in ("mnist", "mnist_m_synth")
                ],
            ]
        )
    lines.append(harness.markdown_table(["model", "MNIST", "synthesised MNIST-M"], rows))
    lines.append("Figures: inspect_figures/saliency_mnist_m.png, class_visualisation.png, robustness_*.png.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
