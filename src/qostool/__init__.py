"""qostool: monthly mobile-internet quality statistics per commune, from speed tests."""

__version__ = "0.1.0"
