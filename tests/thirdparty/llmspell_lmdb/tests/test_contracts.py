"""llmspell's conformance suites over the LMDB backends, chosen by ``distribution = "lmdb"`` alone."""

from llmspell.contrib.testing.contracts import events, sessions, state


class TestLmdbState(state.StateContract):
    kernel_config = 'distribution = "lmdb"'  # the one line of llmspell.toml: the suite tests what it selects


class TestLmdbSessions(sessions.SessionBackendContract):
    kernel_config = 'distribution = "lmdb"'


class TestLmdbEventLog(events.EventLogContract):
    kernel_config = 'distribution = "lmdb"'
