"""Models: one keras.Model subclass per method, each overriding train_step.

Networks come from `kerasda.networks`; `builders` wires them into the models
the apps train.
"""

from kerasda.models.acgan import ACGAN
from kerasda.models.adda import ADDA
from kerasda.models.builders import GAN_MODELS, build_digits_dann, build_gan, build_vae
from kerasda.models.cgan import CGAN
from kerasda.models.dann import DANN
from kerasda.models.dcgan import DCGAN
from kerasda.models.pixelda import PixelDA
from kerasda.models.pixelda_config import PixelDAConfig
from kerasda.models.vae import VAE
