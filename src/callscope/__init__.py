"""Callscope: self-hosted quality monitoring and control for real-time communication."""

__version__ = "0.1.0"

__all__ = ["__version__"]
