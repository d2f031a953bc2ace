"""The torch models (MLP, LeNet-5, the CIFAR-10 CNN): networks, config, epoch loop, objectives."""
