"""The store: the only code that knows Redis keys and scripts (keys.py holds the layout)."""
