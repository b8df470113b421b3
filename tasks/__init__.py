"""Task cards: one small TOML file per task."""
