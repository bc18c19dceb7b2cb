"""The ``console`` plugin: a local web console (placeholder)."""
