"""deepgrade's version: a leaf, so that anything may import it without cost."""

__version__ = "0.1.0"
