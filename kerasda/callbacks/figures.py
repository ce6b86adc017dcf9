"""Refresh a figure at every evaluation (and at the end), as PNG and TensorBoard image."""

from kerasda.callbacks.base import RunCallback


class FigureCallback(RunCallback):
    """Calls `make_figure()` at every evaluation and saves it under `name`.

    Args:
        run: the `kerasda.runner.Run`.
        name: file name (without .png) and TensorBoard tag.
        make_figure: zero-argument function returning a matplotlib figure; it may
            read the current model state (e.g. generate from fixed noise).
    """

    def __init__(self, run, name, make_figure):
        super().__init__()
        self.run = run
        self.name = name
        self.make_figure = make_figure
        self._saved_at = None  # step of the last figure, so the end does not repeat it

    def on_evaluate(self, step, logs=None):
        self._saved_at = step
        self.run.save_figure(self.make_figure(), self.name, step=self._saved_at)

    def on_train_end(self, logs=None):
        # at the step training reached (a time budget may stop it before max_steps)
        if self._saved_at != self.run.step:
            self.run.save_figure(self.make_figure(), self.name, step=self.run.step)
