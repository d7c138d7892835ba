"""siyu (私域): private-domain traffic and B2K2C social commerce."""

__version__ = "0.1.0"
