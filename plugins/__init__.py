"""Built-in plugins: each registers through the `harness` entry-point group."""
