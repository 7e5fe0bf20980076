"""A run's timeline drawn as a PNG (matplotlib) or a self-contained HTML page (inline SVG)."""
