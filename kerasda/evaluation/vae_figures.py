"""The VAE app's figures: the anomaly ROC curve and the loss curves (training and held-out)."""

from kerasda.evaluation import plots
from kerasda.evaluation.plots import plt


def roc_curve_figure(fpr, tpr, roc_auc, title="Anomaly detection by reconstruction error"):
    """The ROC curve with its AUC and the chance diagonal."""
    figure, axis = plt.subplots(figsize=(4, 4))
    axis.plot(fpr, tpr, label=f"AUC = {roc_auc:.3f}")
    axis.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="chance")
    axis.set_xlabel("false positive rate (normal flagged)")
    axis.set_ylabel("true positive rate (anomalies found)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.01)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def vae_loss_curves_figure(history, title=None):
    """Two panels from runner history records: reconstruction / total loss, and KL."""
    panels = (
        ("reconstruction and total loss", ("total_loss", "reconstruction_loss")),
        ("KL divergence", ("kl_loss",)),
    )
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for axis, (panel_title, keys) in zip(axes, panels):
        plots.plot_curves(
            axis,
            history,
            [prefix + key for key in keys for prefix in ("", "heldout/")],
            style=lambda key: "o--" if key.startswith("heldout/") else "-",
            legend_fontsize=7,
        )
        axis.set_title(panel_title, fontsize=9)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
