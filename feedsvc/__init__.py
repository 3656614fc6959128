"""feedsvc: republishes news sites as clean, full-text, per-topic Atom feeds."""

__version__ = "0.1.0"
