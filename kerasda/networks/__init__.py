"""Networks: factory functions that return functional `keras.Model`s with fixed input shapes.

One module per method family; the methods in `kerasda.models` take these
networks in their constructors and never build layers themselves.

    digits.py   the digits tower (feature extractor + label predictor), shared by
                the source-only baseline, DANN, ADDA and PixelDA's task classifier
    dann.py     DANN's domain classifier (with the gradient reversal layer)
    adda.py     ADDA's feature discriminator, encoder copies
    pixelda.py  PixelDA's residual generator, discriminator and private/shared task classifiers
    gan.py      DCGAN / cGAN / ACGAN generators and discriminators
    vae.py      EndoVAE's encoder and decoder
"""
