"""The base: paths, atomic files, numerics settings, progress bars, MNIST, the model, the result cache."""
