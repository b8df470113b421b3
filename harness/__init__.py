"""harness: evaluation harness and benchmark suite for code retrieval and adapters."""

__version__ = "0.1.0"
