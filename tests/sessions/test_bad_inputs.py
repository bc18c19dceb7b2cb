"""Bad arguments at the session API: transitions, status filters, ttl, metadata, parents."""

from __future__ import annotations

import math
from typing import Any

import pytest

from llmspell import Kernel
from llmspell.errors import NotFoundError, SerializationError, UnknownNameError, ValidationError
from llmspell.plugins.sessions.api import SessionStatus

BAD_TTLS = [math.inf, -math.inf, math.nan, 1e300, 2**80, 0, -1, "60", True, [60]]


@pytest.mark.parametrize("target", ["bogus", "", 3, None, "ACTIVE"])
async def test_transition_to_an_unknown_status(kernel: Kernel, target: Any) -> None:
    session = await kernel.sessions.create(user_id="u1")
    with pytest.raises(UnknownNameError, match="unknown session status") as info:
        await kernel.sessions.transition(session.id, target)
    assert "suspended" in str(info.value)  # the allowed names are listed
    assert (await kernel.sessions.get(session.id)).status is SessionStatus.ACTIVE


async def test_transition_by_name_and_reason_type(kernel: Kernel) -> None:
    session = await kernel.sessions.create(user_id="u1")
    assert (await kernel.sessions.transition(session.id, "suspended")).status is SessionStatus.SUSPENDED
    with pytest.raises(ValidationError, match="reason"):
        await kernel.sessions.transition(session.id, SessionStatus.ACTIVE, 42)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["bogus", ["active", "bogus"], 5, None])
async def test_list_by_an_unknown_status(kernel: Kernel, status: Any) -> None:
    with pytest.raises((UnknownNameError, ValidationError), match="status"):
        await kernel.sessions.list(status=status)
    assert (await kernel.sessions.list(status=["active", SessionStatus.SUSPENDED])).items == ()


@pytest.mark.parametrize("ttl", BAD_TTLS)
async def test_ttl_on_create_and_update(kernel: Kernel, ttl: Any) -> None:
    with pytest.raises(ValidationError, match="^ttl must be a positive number of seconds"):
        await kernel.sessions.create(ttl=ttl)
    session = await kernel.sessions.create(ttl=60)
    with pytest.raises(ValidationError, match="^ttl must be a positive number of seconds"):
        await kernel.sessions.update(session.id, ttl=ttl)
    assert (await kernel.sessions.get(session.id)).ttl == 60


async def test_update_ttl_sets_the_expiry(kernel: Kernel) -> None:
    session = await kernel.sessions.create(ttl=60)
    longest = 100 * 365.25 * 24 * 3600
    updated = await kernel.sessions.update(session.id, ttl=longest)
    assert updated.ttl == longest and updated.expires_at is not None
    cleared = await kernel.sessions.update(session.id, ttl=None)
    assert cleared.ttl is None and cleared.expires_at is None


@pytest.mark.parametrize("metadata", [[1, 2], "text", 3, [("a", 1)]])
async def test_metadata_must_be_a_mapping(kernel: Kernel, metadata: Any) -> None:
    with pytest.raises(ValidationError, match="^metadata must be a mapping"):
        await kernel.sessions.create(metadata=metadata)
    session = await kernel.sessions.create()
    with pytest.raises(ValidationError, match="^metadata must be a mapping"):
        await kernel.sessions.update(session.id, metadata=metadata)
    assert (await kernel.sessions.get(session.id)).metadata == {}


async def test_cyclic_metadata_names_its_path(kernel: Kernel) -> None:
    loop: dict[str, Any] = {"a": {}}
    loop["a"]["self"] = loop
    with pytest.raises(SerializationError, match="cyclic") as info:
        await kernel.sessions.create(metadata=loop)
    assert info.value.path == "$.metadata.a.self"
    with pytest.raises(SerializationError, match="too deeply"):
        await kernel.sessions.create(metadata={"x": _deep(500)})


def _deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


async def test_an_unknown_parent_is_refused(kernel: Kernel) -> None:
    with pytest.raises(NotFoundError, match="'nope'"):
        await kernel.sessions.create(parent_id="nope")
    assert (await kernel.sessions.list()).items == ()
    parent = await kernel.sessions.create()
    child = await kernel.sessions.create(parent_id=parent.id)
    assert child.parent_id == parent.id


@pytest.mark.parametrize(
    ("argument", "value"),
    [("limit", "5"), ("limit", 0), ("limit", 5000), ("tags", 5), ("user_id", 5), ("cursor", 5), ("app", ["a"])],
)
async def test_list_filters(kernel: Kernel, argument: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=argument):
        await kernel.sessions.list(**{argument: value})
