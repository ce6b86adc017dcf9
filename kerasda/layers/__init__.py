"""Custom layers: gradient reversal (DANN), per-image standardisation, residual block (PixelDA), sampling (VAE)."""

from kerasda.layers.gradient_reversal import GradientReversal
from kerasda.layers.residual import ResidualBlock
from kerasda.layers.sampling import Sampling
from kerasda.layers.standardization import PerImageStandardization
