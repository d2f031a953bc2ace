"""The NumPy models (DD2424 softmax regression and two-layer net): BLAS helpers, optimizers, the
cross-entropy gradient, batches, the training loop and the gradient check."""
