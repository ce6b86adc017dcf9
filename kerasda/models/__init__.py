"""Models: one keras.Model subclass per method, each overriding train_step."""
