"""copybot: a Polymarket copy-trading daemon (paper by default)."""

__version__ = "0.1.0"
