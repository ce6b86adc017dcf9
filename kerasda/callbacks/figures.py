"""Refresh a figure every epoch (and at the end), as PNG and TensorBoard image."""

import keras


class FigureCallback(keras.callbacks.Callback):
    """Calls `make_figure()` every epoch and saves it under `name`.

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

    def on_epoch_end(self, epoch, logs=None):
        self._saved_at = (epoch + 1) * self.run.config.eval_every
        self.run.save_figure(self.make_figure(), self.name, step=self._saved_at)

    def on_train_end(self, logs=None):
        # at the step training reached (a time budget may stop it before max_steps)
        if self._saved_at != self.run.step:
            self.run.save_figure(self.make_figure(), self.name, step=self.run.step)
