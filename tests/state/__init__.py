"""Tests of the state plugin (multi-process tests start ``_worker.py`` as a script)."""
