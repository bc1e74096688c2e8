"""Datasets: embedded synthetic stand-ins, real-dataset loaders, the one prepared on-disk format, augmentation."""
