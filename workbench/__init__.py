"""Prompt-engineering workbench: see every token's probability on a local model."""

__version__ = "0.1.0"
