"""Backend conformance suites, one module per backend kind.

Each module holds a test class that a backend's tests subclass, overriding one
fixture that builds the backend. The same classes run over every llmspell backend in
``tests/contracts/`` and over third-party backends in their own projects.
"""
