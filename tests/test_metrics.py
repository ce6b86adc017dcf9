import matplotlib.pyplot as plt
import numpy as np
import pytest

from kerasda.evaluation import metrics, plots
from kerasda.networks.digits import build_digits_classifier


def test_classification_metrics_hand_computed():
    report = metrics.classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], num_classes=2)
    assert report["accuracy"] == 0.75
    # class 0: P=1, R=0.5; class 1: P=2/3, R=1
    assert report["precision_macro"] == pytest.approx((1 + 2 / 3) / 2)
    assert report["recall_macro"] == pytest.approx(0.75)
    assert report["confusion_matrix"] == [[1, 1], [0, 2]]


def test_predict_classes_batches_cover_every_example():
    model = build_digits_classifier()
    x = np.zeros((7, 32, 32, 3), np.uint8)
    assert metrics.predict_classes(model, x, batch_size=3).shape == (7,)


def test_figures_render():
    figure = plots.image_grid_figure(np.zeros((6, 8, 8, 3)), 2, 3, row_titles=["a", "b"])
    assert len(figure.axes) == 6
    figure = plots.confusion_matrix_figure([[3, 1], [0, 4]], ["a", "b"], title="t")
    assert figure.axes[0].get_title() == "t"
    with pytest.raises(ValueError, match="do not fit"):
        plots.image_grid_figure(np.zeros((7, 8, 8, 3)), 2, 3)
    figure = plots.image_grid_figure(
        np.zeros((3, 8, 8, 3)), 1, 3, cell_titles=["7", None, "1"], cell_colors=["green", None, "red"]
    )
    assert [axis.get_title() for axis in figure.axes] == ["7", "", "1"]
    assert figure.axes[2].title.get_color() == "red"
    with pytest.raises(ValueError, match="cell titles"):
        plots.image_grid_figure(np.zeros((3, 8, 8, 3)), 1, 3, cell_titles=["7"])


def test_curves_skip_missing_keys_and_take_a_style_per_key():
    history = [{"step": 1, "a": 1.0}, {"step": 2, "a": 0.5, "b": 2.0}, {"step": 3, "b": None}]
    figure = plots.curves_figure(history, ["a", "b", "absent"], title="t")
    lines = {line.get_label(): line for line in figure.axes[0].lines}
    assert set(lines) == {"a", "b"}
    assert list(lines["a"].get_xdata()) == [1, 2] and list(lines["b"].get_xdata()) == [2]
    _, axis = plt.subplots()
    plots.plot_curves(axis, history, ["a", "b"], style=lambda key: "o--" if key == "b" else "-")
    assert [line.get_linestyle() for line in axis.lines] == ["-", "--"]
