"""PNG figures from the arrays the inspection functions return (no computation here)."""

import pathlib

import numpy as np

from kerasda.evaluation.plots import plt, to_display_range


def _save(figure, path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, bbox_inches="tight", dpi=110)
    plt.close(figure)
    return path


def _blank(axis):
    axis.set_xticks([])
    axis.set_yticks([])
    for spine in axis.spines.values():
        spine.set_visible(False)


def _show(axis, image, cmap="gray"):
    _blank(axis)
    axis.imshow(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image, cmap=cmap, vmin=0, vmax=1)


def normalise_maps(maps, percentile=99.0):
    """Each map / its own `percentile`, clipped to [0, 1] (one outlier pixel does not wash the rest out)."""
    maps = np.asarray(maps, np.float32)
    top = np.percentile(maps.reshape(len(maps), -1), percentile, axis=1).reshape(-1, 1, 1)
    return np.clip(maps / np.maximum(top, 1e-12), 0, 1)


def saliency_figure(images, maps_by_model, path, value_range=(-1.0, 1.0), captions=None, title=None):
    """One row per image: the image, then one saliency map per model (columns named by the dict keys).

    `images` may be one array [N, H, W, C] or a dict per model (models with different input sizes).
    """
    names = list(maps_by_model)
    first = images[names[0]] if isinstance(images, dict) else images
    rows = len(first)
    figure, axes = plt.subplots(rows, 1 + len(names), figsize=(1.3 * (1 + len(names)), 1.3 * rows), squeeze=False)
    for row in range(rows):
        _show(axes[row, 0], to_display_range(first[row], value_range))
        if captions is not None:
            axes[row, 0].set_ylabel(captions[row], rotation=0, ha="right", va="center", fontsize=7)
        for col, name in enumerate(names, start=1):
            _show(axes[row, col], normalise_maps(maps_by_model[name][row : row + 1])[0], cmap="hot")
    for col, name in enumerate(["image", *names]):
        axes[0, col].set_title(name, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def adversarial_figure(images, adversarial, labels, targets, steps, path, value_range=(-1.0, 1.0), title=None):
    """Columns: original (true label), adversarial (target, steps), perturbation (amplified, grey = 0)."""
    rows = len(images)
    figure, axes = plt.subplots(rows, 3, figsize=(4.0, 1.3 * rows), squeeze=False)
    delta = np.asarray(adversarial) - np.asarray(images)
    for row in range(rows):
        _show(axes[row, 0], to_display_range(images[row], value_range))
        axes[row, 0].set_ylabel(f"y={labels[row]}", rotation=0, ha="right", va="center", fontsize=7)
        _show(axes[row, 1], to_display_range(adversarial[row], value_range))
        axes[row, 1].set_ylabel(f"->{targets[row]}\n{steps[row]} st", rotation=0, ha="right", va="center", fontsize=7)
        scale = max(float(np.abs(delta[row]).max()), 1e-12)
        _show(axes[row, 2], np.clip(0.5 + 0.5 * delta[row] / scale, 0, 1))
    for col, name in enumerate(("original", "adversarial", "perturbation")):
        axes[0, col].set_title(name, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def class_visualisation_figure(images_by_model, classes, path, value_range=(-1.0, 1.0), title=None):
    """One row per model, one column per class."""
    names = list(images_by_model)
    figure, axes = plt.subplots(
        len(names), len(classes), figsize=(1.0 * len(classes) + 1.2, 1.1 * len(names)), squeeze=False
    )
    for row, name in enumerate(names):
        images = to_display_range(images_by_model[name], value_range)
        for col, cls in enumerate(classes):
            _show(axes[row, col], images[col])
            if row == 0:
                axes[row, col].set_title(str(cls), fontsize=8)
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def robustness_figure(epsilons, curves, path, title=None, epsilon_unit=255):
    """Accuracy against epsilon, one line per curve name; epsilon shown in grey levels."""
    figure, axis = plt.subplots(figsize=(5, 3.5))
    for name, accuracy in curves.items():
        axis.plot(np.asarray(epsilons) * epsilon_unit, accuracy, marker="o", label=name)
    axis.set_xlabel(f"epsilon (L-inf, x 1/{epsilon_unit} of the pixel range)" if epsilon_unit != 1 else "epsilon")
    axis.set_ylabel("accuracy")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    if title:
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def c_sweep_figure(cs, validation_accuracy, path, test_accuracy=None, best_c=None, title=None):
    """SVM accuracy against C (log axis): validation (used to choose) and, for reference, test."""
    figure, axis = plt.subplots(figsize=(5, 3.5))
    axis.semilogx(cs, validation_accuracy, marker="o", label="validation (chooses C)")
    if test_accuracy is not None:
        axis.semilogx(cs, test_accuracy, marker="s", linestyle="--", label="test (reported only)")
    if best_c is not None:
        axis.axvline(best_c, color="grey", linestyle=":", label=f"chosen C = {best_c:g}")
    axis.set_xlabel("C")
    axis.set_ylabel("accuracy")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    if title:
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def head_curves_figure(histories, path, title=None):
    """Loss and accuracy per epoch (train solid, validation dashed) for each head configuration."""
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(9, 3.5))
    for index, (name, history) in enumerate(histories.items()):
        color = f"C{index}"
        epochs = np.arange(1, len(history["loss"]) + 1)
        for axis, key in ((loss_axis, "loss"), (acc_axis, "accuracy")):
            axis.plot(epochs, history[key], color=color, label=f"{name} train")
            if f"val_{key}" in history:
                axis.plot(epochs, history[f"val_{key}"], color=color, linestyle="--", label=f"{name} val")
    for axis, label in ((loss_axis, "loss"), (acc_axis, "accuracy")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    acc_axis.legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)
