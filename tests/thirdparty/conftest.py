# The package in llmspell_lmdb/ is a separate project: test_lmdb_backend.py installs it and runs its tests.
collect_ignore = ["llmspell_lmdb"]
