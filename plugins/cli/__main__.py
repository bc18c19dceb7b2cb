"""``python -m llmspell.plugins.cli``: the ``llmspell`` command."""

from . import main

main()
