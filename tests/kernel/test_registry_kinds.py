"""Registry kinds are identifiers named after their registration hooks; old spaced kinds warn."""

from __future__ import annotations

import inspect
import warnings

import pytest

from llmspell import hookspecs
from llmspell.errors import ConfigError, DuplicateNameError, UnknownBackendError
from llmspell.kernel import REGISTRATION_HOOKS


def test_every_registry_kind_is_an_identifier_named_after_its_registration_hook(make_kernel):
    kernel = make_kernel()
    for hook, kind in REGISTRATION_HOOKS.items():
        assert hook == f"llmspell_register_{kind}s", hook
        assert kind.isidentifier() and kind == kind.lower(), kind
        assert list(inspect.signature(getattr(hookspecs, hook)).parameters) == ["register"]
        assert kernel.registry(kind).kind == kind
    assert {"state_backend", "agent_type", "artifact_metadata_backend", "tool"} <= set(REGISTRATION_HOOKS.values())
    assert set(kernel.registries) == {*REGISTRATION_HOOKS.values(), "state_schema"}
    assert all(kind.isidentifier() for kind in kernel.registries)


def test_the_identifier_kinds_work_without_a_warning(make_kernel):
    kernel = make_kernel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "memory" in kernel.registry("state_backend")
        assert kernel.check_backend("state.backend", "state_backend", "memory") is None
        assert kernel.create_backend("session_backend", "memory") is not None


@pytest.mark.parametrize("old, new", [("state backend", "state_backend"), ("agent type", "agent_type"),
                                      ("artifact metadata backend", "artifact_metadata_backend"),
                                      ("state schema", "state_schema")])
def test_an_old_spaced_kind_still_works_and_names_the_new_identifier(make_kernel, old, new):
    kernel = make_kernel()
    with pytest.warns(DeprecationWarning, match=f"registry kind {old!r} is now {new!r}") as caught:
        registry = kernel.registry(old)
    assert registry is kernel.registry(new)
    assert caught[0].filename == __file__  # the warning points at the caller


def test_create_and_check_backend_take_the_old_kinds_and_warn_at_their_caller(make_kernel):
    kernel = make_kernel()
    with pytest.warns(DeprecationWarning, match="'state backend' is now 'state_backend'") as caught:
        assert kernel.check_backend("state.backend", "state backend", "memory") is None
    assert caught[0].filename == __file__
    with pytest.warns(DeprecationWarning, match="'session backend' is now 'session_backend'") as caught:
        assert kernel.create_backend("session backend", "memory") is not None
    assert caught[0].filename == __file__


def test_messages_read_the_kind_as_words(make_kernel):
    kernel = make_kernel()
    assert kernel.check_backend("state.backend", "state_backend", "nope") == (
        "state.backend: unknown state backend 'nope' (registered: "
        + ", ".join(sorted(str(n) for n in kernel.registry("state_backend").names())) + ")"
    )
    with pytest.raises(UnknownBackendError, match=r"^unknown artifact metadata backend 'nope'; registered: ") as info:
        kernel.create_backend("artifact_metadata_backend", "nope")
    assert info.value.kind == "artifact_metadata_backend"
    with pytest.raises(DuplicateNameError, match=r"^state reducer 'twice' is registered twice: by a and by b$"):
        registry = kernel.registry("state_reducer")
        registry.add("twice", len, plugin="a")
        registry.add("twice", len, plugin="b")


def test_an_unknown_kind_lists_the_identifiers(make_kernel):
    kernel = make_kernel()
    with pytest.raises(ConfigError, match=r"no registry of kind 'state backends'; kinds: .*state_backend"):
        kernel.registry("state backends")
