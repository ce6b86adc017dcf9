"""Transfer-learning table: an MNIST-trained digits tower reused on MNIST-M and on Kvasir.

    KERASDA_DATA_DIR=../shared/data python -m benchmarks.transfer_learning

For each new task and each backbone (the source-only MNIST tower from its
export, and the same architecture with random weights as the no-transfer
baseline), features of a layer go to a linear SVM whose C is chosen on a
validation split, and a new fc100 head is trained with the backbone frozen or
fine-tuned. Small seeded subsets keep the whole table to a few CPU minutes.
Writes results/transfer_learning.{json,md} and results/transfer_figures/*.png.
"""

import argparse
import os
import pathlib
import time

import numpy as np

from benchmarks import harness
from kerasda.inspect import figures, load_classifier, model_access, transfer

EXPORT = pathlib.Path(
    "runs/da_table/source_only__mnist__to__mnist_m__seed0__821b52275f/exports/source_only_classifier/1"
)
FIGURES = harness.RESULTS_DIR / "transfer_figures"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", default=str(EXPORT), help="digits-tower export trained on MNIST")
    parser.add_argument("--data_dir", default=os.environ.get("KERASDA_DATA_DIR"))
    parser.add_argument("--tasks", default="mnist_m,kvasir")
    parser.add_argument("--num_train", type=int, default=2000, help="MNIST-M train+validation images")
    parser.add_argument("--num_test", type=int, default=2000, help="MNIST-M test images")
    parser.add_argument("--head_epochs", type=int, default=8)
    parser.add_argument("--svm_cs", default="0.0001,0.001,0.01,0.1,1")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def task_splits(task, args, image_size):
    if task == "kvasir":
        # All 1,400 images (normal-cecum vs polyps); the central 75% drops the corner box confound.
        spec = f"folder:{pathlib.Path(args.data_dir) / 'kvasir'}"
        return transfer.load_transfer_splits(spec, image_size, 0, 0, 0.2, 0.75, args.seed, args.data_dir)
    return transfer.load_transfer_splits(
        task, image_size, args.num_train, args.num_test, 0.2, 1.0, args.seed, args.data_dir
    )


def main():
    args = parse_args()
    start, load_before = time.perf_counter(), os.getloadavg()
    loaded = load_classifier(args.export)  # logits tower, for the as-is reference
    size = loaded.image_shape[0]
    backbones = {
        "mnist_tower": lambda: model_access.digits_tower_from_export(args.export),
        "random_tower": lambda: model_access.build_flat_digits_tower((size, size, 3), "same"),
    }
    cs = tuple(float(c) for c in args.svm_cs.split(","))
    head = transfer.HeadConfig(epochs=args.head_epochs, seed=args.seed)
    rows, tasks = [], {}
    for task in args.tasks.split(","):
        domain, train, validation, test = task_splits(task, args, size)
        task_result = {
            "domain": domain.name,
            "classes": list(map(str, domain.class_names)),
            "num_train": len(train[1]),
            "num_validation": len(validation[1]),
            "num_test": len(test[1]),
        }
        if task == "mnist_m":
            task_result["backbone_as_is_accuracy"] = float(np.mean(loaded.predict_classes(test[0]) == test[1]))
        for backbone_name, factory in backbones.items():
            for layer, modes in (("flatten", ("svm",)), ("fc2", ("svm", "frozen", "finetune"))):
                config = transfer.TransferConfig(layer=layer, svm_cs=cs, modes=modes, head=head, seed=args.seed)
                t0 = time.perf_counter()
                result = transfer.transfer_study(factory, domain.num_classes, train, validation, test, config)
                result["seconds"] = time.perf_counter() - t0
                task_result[f"{backbone_name}/{layer}"] = result
                tag = f"{task}_{backbone_name}_{layer}"
                svm = result["svm"]
                figures.c_sweep_figure(
                    svm["cs"],
                    svm["validation_accuracy"],
                    FIGURES / f"c_sweep_{tag}.png",
                    svm["test_accuracy_per_c"],
                    svm["best_c"],
                    f"{backbone_name} [{layer}] -> {task}",
                )
                rows.append(
                    [
                        task,
                        backbone_name,
                        layer,
                        result["feature_dim"],
                        "SVM (linear)",
                        f"C={svm['best_c']:g}",
                        f"{svm['test_accuracy']:.3f}",
                    ]
                )
                histories = {}
                for mode in ("frozen", "finetune"):
                    if f"head_{mode}" in result:
                        h = result[f"head_{mode}"]
                        histories[mode] = h["history"]
                        rows.append(
                            [
                                task,
                                backbone_name,
                                layer,
                                result["feature_dim"],
                                f"new fc100 head, {mode}",
                                f"{args.head_epochs} epochs",
                                f"{h['test_accuracy']:.3f}",
                            ]
                        )
                if histories:
                    figures.head_curves_figure(
                        histories, FIGURES / f"head_curves_{tag}.png", f"{backbone_name} [{layer}] -> {task}"
                    )
                print(rows[-1], f"{result['seconds']:.0f}s", flush=True)
        if "backbone_as_is_accuracy" in task_result:
            rows.append(
                [
                    task,
                    "mnist_tower",
                    "logits",
                    10,
                    "as trained on MNIST (no transfer)",
                    "-",
                    f"{task_result['backbone_as_is_accuracy']:.3f}",
                ]
            )
        tasks[task] = task_result
    payload = {
        "config": vars(args),
        "tasks": tasks,
        "wall_seconds": time.perf_counter() - start,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    header = ["task", "backbone", "layer", "features", "classifier", "choice", "test accuracy"]
    markdown = "\n".join(
        [
            "# Transfer learning from the MNIST digits tower",
            "",
            f"Wall {payload['wall_seconds']:.0f} s; load average before/after "
            f"{load_before[0]:.1f}/{payload['load_average_after'][0]:.1f} "
            "(2 shared CPU cores). SVM C chosen on a validation split (20% of the training subset), test scored once. "
            "random_tower = the same architecture untrained (no transfer); fine-tuning it is training from scratch.",
            "",
            harness.markdown_table(header, rows),
            "Figures: transfer_figures/c_sweep_*.png (validation and, for reference only, test accuracy per C), "
            "transfer_figures/head_curves_*.png (loss / accuracy per epoch).",
            "",
        ]
    )
    harness.write_results("transfer_learning", payload, markdown)


if __name__ == "__main__":
    main()
