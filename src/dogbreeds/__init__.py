"""dogbreeds: identify a dog's breed from a photo (Stanford Dogs)."""

__version__ = "0.1.0"
