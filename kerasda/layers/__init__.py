"""Custom layers: gradient reversal (DANN), residual block (PixelDA's generator)."""

from kerasda.layers.gradient_reversal import GradientReversal
from kerasda.layers.residual import ResidualBlock
