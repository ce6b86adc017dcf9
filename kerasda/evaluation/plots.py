"""Matplotlib figures the apps write as PNG and TensorBoard images."""

import matplotlib

matplotlib.use("Agg")  # headless: apps run on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def to_display_range(images, value_range=(-1.0, 1.0)):
    """Images in `value_range` -> float [0, 1] for imshow."""
    low, high = value_range
    images = (np.asarray(images, np.float32) - low) / (high - low)
    return np.clip(images, 0.0, 1.0)


def image_grid_figure(
    images,
    nrows,
    ncols,
    value_range=(-1.0, 1.0),
    title=None,
    row_titles=None,
    cell_inches=0.9,
    cell_titles=None,
    cell_colors=None,
):
    """A grid of images (row-major); `row_titles` label each row on the left; `cell_titles` (and
    their `cell_colors`, e.g. green / red for right / wrong) caption single images, None = none."""
    images = to_display_range(images, value_range)
    if len(images) > nrows * ncols:
        raise ValueError(f"{len(images)} images do not fit a {nrows}x{ncols} grid.")
    if cell_titles is not None and len(cell_titles) != len(images):
        raise ValueError(f"{len(cell_titles)} cell titles for {len(images)} images.")
    figure, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * cell_inches + (1.2 if row_titles else 0), nrows * cell_inches), squeeze=False
    )
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        for spine in axis.spines.values():
            spine.set_visible(False)
        if index < len(images):
            image = images[index]
            axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
            if cell_titles is not None and cell_titles[index] is not None:
                color = cell_colors[index] if cell_colors is not None else "black"
                axis.set_title(cell_titles[index], fontsize=8, color=color, pad=2)
    if row_titles:
        for axis, text in zip(axes[:, 0], row_titles):
            axis.set_ylabel(text, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def confusion_matrix_figure(confusion, class_names=None, title=None):
    """Confusion matrix as a heat map, with counts and row-normalised colours."""
    confusion = np.asarray(confusion)
    n = len(confusion)
    class_names = class_names or [str(i) for i in range(n)]
    normalised = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(0.5 * n + 2.5, 0.5 * n + 2))
    axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            axis.text(
                j,
                i,
                str(confusion[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if normalised[i, j] > 0.5 else "black",
            )
    axis.set_xticks(range(n), class_names, rotation=45 if n > 10 else 0)
    axis.set_yticks(range(n), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if title:
        axis.set_title(title)
    figure.tight_layout()
    return figure


def plot_curves(axis, history, keys, style=None, xlabel="step", legend_fontsize=8):
    """Draws `keys` of {"step": s, key: value} records on `axis` (missing keys skipped).

    Args:
        style: optional callable, key -> matplotlib format string (default "-").
    """
    for key in keys:
        points = [(r["step"], r[key]) for r in history if r.get(key) is not None]
        if points:
            steps, values = zip(*points)
            axis.plot(steps, values, style(key) if style else "-", label=key, markersize=3)
    axis.set_xlabel(xlabel)
    axis.grid(alpha=0.3)
    if axis.lines:
        axis.legend(fontsize=legend_fontsize)


def curves_figure(history, keys, title=None, xlabel="step"):
    """Line plot of `keys` from a list of {"step": s, key: value} records (missing keys skipped)."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    plot_curves(axis, history, keys, xlabel=xlabel)
    if title:
        axis.set_title(title)
    figure.tight_layout()
    return figure
