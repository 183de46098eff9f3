"""Domain core of the agents service, importable without Flask or any cloud SDK."""

__version__ = "0.1.0"
