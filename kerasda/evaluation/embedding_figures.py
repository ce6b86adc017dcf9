"""The t-SNE figure of `kerasda.evaluation.embeddings`: domains mixed? classes still apart?"""

import numpy as np

from kerasda.evaluation.plots import plt


def tsne_figure(panels, domain_names=("source", "target"), class_names=None, title=None):
    """Rows of t-SNE maps: for each row, coloured by domain (left) and by class (right).

    Args:
        panels: {row title: (points [N, 2], domain ids [N], class labels [N])},
            e.g. {"source only": ..., "DANN": ...} to compare embeddings.
        domain_names: legend names of domain ids 0 and 1.
        class_names: legend names of the classes.
    """
    if not panels:
        raise ValueError("panels must hold at least one embedding.")
    figure, axes = plt.subplots(len(panels), 2, figsize=(10, 4.6 * len(panels)), squeeze=False)
    class_cmap = plt.get_cmap("tab10")
    for (row_title, (points, domains, labels)), (ax_domain, ax_class) in zip(panels.items(), axes):
        points, domains, labels = np.asarray(points), np.asarray(domains), np.asarray(labels)
        for domain_id, (name, colour) in enumerate(zip(domain_names, ("tab:blue", "tab:red"))):
            mask = domains == domain_id
            ax_domain.scatter(*points[mask].T, s=3, c=colour, alpha=0.5, label=name)
        ax_domain.legend(markerscale=4, fontsize=8, loc="best")
        ax_domain.set_title(f"{row_title}: by domain")
        for k in np.unique(labels):
            mask = labels == k
            name = class_names[k] if class_names is not None else str(k)
            ax_class.scatter(*points[mask].T, s=3, color=class_cmap(int(k) % 10), alpha=0.6, label=name)
        ax_class.legend(markerscale=4, fontsize=7, ncol=2, loc="best")
        ax_class.set_title(f"{row_title}: by class")
        for axis in (ax_domain, ax_class):
            axis.set_xticks([])
            axis.set_yticks([])
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
