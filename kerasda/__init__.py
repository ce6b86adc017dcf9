"""kerasda: unsupervised domain adaptation and deep generative models in Keras 3."""

__version__ = "0.1.0"
