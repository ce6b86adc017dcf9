"""benchmarks.pixelda_class_keeping's figure: digits of every class and what a judge reads of G(x)."""

import numpy as np

from benchmarks.pixelda_class_keeping import class_keeping_figure


def test_figure_shows_every_class_and_marks_misread_generations():
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 10  # three of each class
    x, generated = rng.integers(0, 256, (2, 30, 8, 8, 3), dtype=np.uint8)
    readings = labels.copy()
    readings[labels == 3] = 5  # the judge reads every generated 3 as a 5
    figure = class_keeping_figure(x, generated, labels, readings, "target_only", 2, "title")
    sources, outputs = figure.axes[:20], figure.axes[20:]
    assert len(outputs) == 20
    assert [axis.get_title() for axis in sources] == [str(c) for c in np.repeat(np.arange(10), 2)]
    assert [axis.get_title() for axis in outputs] == [str(5 if c == 3 else c) for c in np.repeat(np.arange(10), 2)]
    assert [axis.title.get_color() for axis in outputs] == [
        "red" if c == 3 else "green" for c in np.repeat(np.arange(10), 2)
    ]
