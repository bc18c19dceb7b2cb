"""Bad arguments at the artifact API, and the ownership and paging rules no other test pins."""

from __future__ import annotations

from typing import Any

import pytest

from llmspell import Kernel, Principal
from llmspell.context import ExecutionContext
from llmspell.errors import NotFoundError, PermissionDenied, SerializationError, ValidationError
from llmspell.plugins.artifacts.api import ArtifactScope
from llmspell.plugins.artifacts.backend import ArtifactQuery

BAD_VERSIONS = [0, -1, 2**63, 2**64, "1", 1.5, True]


@pytest.mark.parametrize("version", BAD_VERSIONS)
async def test_version_must_be_a_64_bit_count(akernel: Kernel, version: Any) -> None:
    arts = akernel.artifacts
    ref = await arts.save("a.txt", b"x")
    for call in (arts.load, arts.stat, arts.open, arts.delete):
        with pytest.raises(ValidationError, match="^version must be an integer from 1"):
            await call("a.txt", version=version)
    with pytest.raises(ValidationError, match="^version must be an integer from 1"):
        await arts.copy("a.txt", "b.txt", version=version)
    assert await arts.load(ref) == b"x"


async def test_a_reference_beyond_64_bits(akernel: Kernel) -> None:
    await akernel.artifacts.save("a.txt", b"x")
    with pytest.raises(ValidationError, match="^version must be an integer"):
        await akernel.artifacts.load("artifact:app/app/a.txt@99999999999999999999")
    with pytest.raises(NotFoundError):
        await akernel.artifacts.load("artifact:app/app/a.txt@9223372036854775807")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain\r\nX-Injected: 1", "text/plain\n", "text/html\x00", "text", "/plain", "text/", "a b/c", "é/x",
     "text/plain; charset", "t/" + "x" * 300, 5],
)
async def test_content_type_must_be_a_media_type(akernel: Kernel, content_type: Any) -> None:
    with pytest.raises(ValidationError, match="content_type"):
        await akernel.artifacts.save("a.txt", b"x", content_type=content_type)
    with pytest.raises(ValidationError, match="content_type"):
        await akernel.artifacts.list(content_type=content_type)
    assert (await akernel.artifacts.list()).items == ()


async def test_content_types_that_stay_allowed(akernel: Kernel) -> None:
    arts = akernel.artifacts
    for given in ("text/plain", "image/svg+xml", "application/vnd.api+json", "text/plain; charset=utf-8"):
        ref = await arts.save("a.txt", b"x", content_type=given)
        assert (await arts.stat(ref)).content_type == given
    assert len((await arts.list(content_type="text/*", all_versions=True)).items) == 2


@pytest.mark.parametrize(("argument", "value"), [("limit", "5"), ("limit", 0), ("limit", 1001), ("limit", True),
                                                 ("prefix", 3), ("tag", "bad\ntag"), ("cursor", 12)])
async def test_list_arguments(akernel: Kernel, argument: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=argument):
        await akernel.artifacts.list(**{argument: value})


@pytest.mark.parametrize("metadata", [[1, 2], "text", 7])
async def test_metadata_must_be_a_mapping(akernel: Kernel, metadata: Any) -> None:
    with pytest.raises(ValidationError, match="^metadata must be a mapping"):
        await akernel.artifacts.save("a.txt", b"x", metadata=metadata)


async def test_cyclic_metadata_names_its_path(akernel: Kernel) -> None:
    loop: dict[str, Any] = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(SerializationError, match="cyclic") as info:
        await akernel.artifacts.save("a.txt", b"x", metadata=loop)
    assert info.value.path == "$.metadata.a[0]"
    assert (await akernel.artifacts.list()).items == ()


# -- ownership and paging ----------------------------------------------------------


async def test_natural_owner_ignores_a_context_bound_to_another_session(akernel: Kernel) -> None:
    """A context's user owns a new session artifact only in the session the context is bound to."""
    arts = akernel.artifacts
    agent = Principal(id="helper", kind="agent")
    elsewhere = ExecutionContext(session_id="s-other", user_id="mallory", principal=agent)
    ref = await arts.save("n.md", b"x", session_id="s-unknown", ctx=elsewhere)
    assert (await arts.acl(ref)).owned_by == "agent:helper"
    with pytest.raises(PermissionDenied):
        await arts.load(ref, principal=Principal.user("mallory"))
    bound = ExecutionContext(session_id="s-bound", user_id="carol")
    ref = await arts.save("n.md", b"x", session_id="s-bound", ctx=bound)
    assert (await arts.acl(ref)).owned_by == "user:carol"


async def test_copy_onto_a_name_owned_by_another_user_is_denied_and_recorded(akernel: Kernel, events: Any) -> None:
    arts = akernel.artifacts
    alice, bob = Principal.user("alice"), Principal.user("bob")
    target = await arts.save("report.md", b"alice's", user_id="alice", principal=alice)
    source = await arts.save("draft.md", b"bob's", user_id="bob", principal=bob)
    before = len(arts.denials)
    with pytest.raises(PermissionDenied, match="'write'"):
        await arts.copy(source, "report.md", to=ArtifactScope.user("alice"), principal=bob)
    assert list(arts.denials)[before:] == [
        {"principal": "user:bob", "artifact": str(target.id), "permission": "write",
         "reason": "not the owner and no grant"}
    ]
    assert [e.payload for e in events.of("artifact.denied")][-1]["artifact"] == str(target.id)
    assert [m.ref.version for m in await arts.versions(target)] == [1]
    assert await arts.load("report.md", user_id="alice") == b"alice's"


@pytest.mark.parametrize("count", [1, 3])
async def test_list_gives_no_cursor_when_nothing_is_left(akernel: Kernel, count: int) -> None:
    arts = akernel.artifacts
    for i in range(count):
        await arts.save(f"f{i}.txt", b"x")
    page = await arts.list(limit=count)
    assert len(page.items) == count and page.next_cursor is None
    page = await arts.list(limit=count + 1)
    assert len(page.items) == count and page.next_cursor is None
    if count > 1:
        first = await arts.list(limit=count - 1)
        assert first.next_cursor is not None
        rest = await arts.list(limit=count - 1, cursor=first.next_cursor)
        assert len(rest.items) == 1 and rest.next_cursor is None


async def test_other_arguments(akernel: Kernel) -> None:
    arts = akernel.artifacts
    await arts.save("a.txt", b"x")
    for chunk_size in (0, -1, "x", 2**40):
        with pytest.raises(ValidationError, match="^chunk_size"):
            await arts.open("a.txt", chunk_size=chunk_size)
    with pytest.raises(ValidationError, match="^tags"):
        await arts.save("b.txt", b"x", tags=5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^codecs"):
        await arts.save("b.txt", b"x", codecs=5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^to must be an ArtifactScope"):
        await arts.copy("a.txt", "c.txt", to="user")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^tags"):
        await arts.copy("a.txt", "c.txt", tags=5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^ctx must be an ExecutionContext"):
        await arts.save("b.txt", b"x", ctx=5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^all_versions"):
        await arts.list(all_versions="yes")  # type: ignore[arg-type]
    assert [m.ref.name for m in (await arts.list()).items] == ["a.txt"]


@pytest.mark.parametrize("limit", [0, -1, 2**63, "5", 1.5, True, None])
def test_an_index_query_limit_is_a_positive_64_bit_integer(limit: Any) -> None:
    """The limit an index receives is checked where the query is built, for every index."""
    with pytest.raises(ValidationError, match="^ArtifactQuery limit must be an integer from 1"):
        ArtifactQuery(limit=limit)
    assert ArtifactQuery(limit=2**63 - 1).limit == 2**63 - 1
