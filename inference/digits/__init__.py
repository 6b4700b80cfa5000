"""Digits-Gen: a small class-conditional diffusion model trained offline on scikit-learn's digits.

It is the project's offline analogue of the paper's ImageNet-Gen: a real trained generator whose
outputs have a meaning (a drawn digit of the prompted class), small enough to train on a CPU in
minutes and to ship in the repository.
"""
