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

    def on_epoch_end(self, epoch, logs=None):
        self.run.save_figure(self.make_figure(), self.name, step=(epoch + 1) * self.run.config.eval_every)

    def on_train_end(self, logs=None):
        self.run.save_figure(self.make_figure(), self.name, step=self.run.config.max_steps)
