"""Contract tests of the scope API: values, versions, CAS, update, policies, bad input."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from llmspell.errors import ConfigError, ConflictError, SerializationError, UnknownNameError, ValidationError
from llmspell.plugins.state.api import MAX_KEY_LENGTH, MAX_OWNER_LENGTH

from . import raises

if TYPE_CHECKING:
    from llmspell import Kernel


def multibyte(n: int) -> str:
    """``n`` characters alternating a 3-byte (U+20AC) and a 4-byte (U+1F600) UTF-8 character."""
    return ("\u20ac\U0001f600" * n)[:n]


@attrs.frozen
class Profile:
    name: str
    langs: tuple[str, ...] = ()


class ValueTests:
    """Mixed into :class:`~llmspell.contrib.testing.contracts.state.StateContract`."""

    async def test_set_get_versions(self, kernel: Kernel, owner: str) -> None:
        """A missing key reads as None (or the default); each set returns the new version, from 1 up
        by 1; any JSON value round-trips."""
        prefs = kernel.state.scope("user", owner)
        assert await prefs.get("theme") is None
        assert await prefs.get("theme", "light") == "light"
        assert await prefs.get_versioned("theme") is None
        assert await prefs.set("theme", {"dark": True}) == 1
        assert await prefs.set("theme", {"dark": False}) == 2
        item = await prefs.get_versioned("theme")
        assert item is not None and (item.value, item.version) == ({"dark": False}, 2)
        for value in (0, -1.5, "text", True, None, [1, [2, {"a": None}]], {"ü": "ñ"}):
            await prefs.set("any", value)
            assert await prefs.get("any", "default") == value

    async def test_scopes_and_owners_are_isolated(self, kernel: Kernel, owner: str) -> None:
        """Keys of one (scope, owner) are invisible to every other scope and owner, also to an owner
        that extends it ("u" + "0", "u" + "/x")."""
        state = kernel.state
        await state.scope("user", owner).set("k", "user")
        await state.scope("user", owner + "0").set("k", "other user")
        await state.scope("session", owner).set("k", "session")
        await state.scope("user", owner + "/x").set("k", "slash")
        assert await state.scope("user", owner).list() == ["k"]
        assert await state.scope("user", owner).get("k") == "user"
        assert await state.scope("session", owner).get("k") == "session"
        assert await state.scope("user", owner + "/x").get("k") == "slash"
        assert await state.scope("agent", owner).get("k") is None
        assert (await state.scope("app").set("k", 1)) >= 1

    async def test_get_many_delete_list_scan(self, kernel: Kernel, owner: str) -> None:
        """get_many leaves missing keys out; list and scan return keys with the prefix in code-point
        order; delete returns True once, then False."""
        s = kernel.state.scope("session", owner)
        for key in ("cart.1", "cart.2", "cart.10", "profile", "carton"):
            await s.set(key, key.upper())
        assert await s.get_many(["cart.1", "missing", "profile"]) == {
            "cart.1": "CART.1",
            "profile": "PROFILE",
        }
        assert await s.list("cart.") == ["cart.1", "cart.10", "cart.2"]
        assert await s.list() == ["cart.1", "cart.10", "cart.2", "carton", "profile"]
        items = [i async for i in s.scan("cart")]
        assert [(i.key, i.value, i.version) for i in items][:2] == [
            ("cart.1", "CART.1", 1),
            ("cart.10", "CART.10", 1),
        ]
        assert await s.delete("carton") is True
        assert await s.delete("carton") is False
        assert await s.list("cart") == ["cart.1", "cart.10", "cart.2"]

    async def test_scan_owners(self, kernel: Kernel, owner: str) -> None:
        """scan_owners gives each owner (once, in the order asked) what its scope's scan gives,
        more than a page of keys and owners that only share a prefix included (read with the
        backend's optional ``scan_prefixes`` when it has it, else owner by owner)."""
        state = kernel.state
        owners = [owner, owner + "1", owner + "/x", owner + "-empty"]
        for n, name in enumerate(owners[:-1]):
            scope = state.scope("session", name)
            for i in range(1203 if n == 0 else 3):
                await scope.set(f"k{i:05d}", {"n": i})
        await state.scope("user", owner).set("k00000", "another scope")
        got = await state.scan_owners("session", [*owners, owner])
        assert list(got) == owners, "rule: one entry per owner, in the order asked"
        for name in owners:
            expected = [i async for i in state.scope("session", name).scan()]
            assert got[name] == expected, "rule: an owner's keys are what its scope's scan gives"
        assert len(got[owner]) == 1203 and got[owners[-1]] == []

    async def test_compare_and_set(self, kernel: Kernel, owner: str) -> None:
        """set(expected_version=n) writes only when the stored version is n (0: the key is absent),
        else raises ConflictError carrying the current version and value; delete(expected_version=)
        likewise."""
        s = kernel.state.scope("user", owner)
        v1 = await s.set("theme", {"dark": True}, expected_version=0)
        with pytest.raises(ConflictError) as info:
            await s.set("theme", {"dark": None}, expected_version=0)
        assert info.value.current_version == v1 and info.value.current_value == {"dark": True}
        v2 = await s.set("theme", {"dark": False}, expected_version=v1)
        with pytest.raises(ConflictError) as info:
            await s.set("theme", "stale", expected_version=v1)
        assert (info.value.expected, info.value.current_version) == (v1, v2)
        assert info.value.current_value == {"dark": False}
        assert await s.get("theme") == {"dark": False}
        with pytest.raises(ConflictError):
            await s.delete("theme", expected_version=v1)
        assert await s.delete("theme", expected_version=v2) is True

    async def test_expected_version_on_missing_key(self, kernel: Kernel, owner: str) -> None:
        """An expected version >= 1 on a missing key raises ConflictError with no current version or
        value, and writes nothing."""
        s = kernel.state.scope("user", owner)
        with pytest.raises(ConflictError) as info:
            await s.set("nothing", 1, expected_version=3)
        assert info.value.current_version is None and info.value.current_value is None
        assert await s.get_versioned("nothing") is None

    async def test_update_retries_then_succeeds(self, kernel: Kernel, owner: str) -> None:
        """update(fn) re-reads and calls fn again when another writer got in between, and writes
        fn's result on the fresh value."""
        s = kernel.state.scope("user", owner)
        other = kernel.state.scope("user", owner)
        assert (await s.update("visits", lambda n: (n or 0) + 1)).value == 1
        calls = []

        async def racing(n: Any) -> Any:
            calls.append(n)
            if len(calls) == 1:  # another writer gets in between our read and our write
                await other.set("visits", 10)
            return n + 1

        result = await s.update("visits", racing)
        assert calls == [1, 10] and (result.value, result.version) == (11, 3)
        assert await s.get("visits") == 11

    async def test_update_gives_up_after_bounded_retries(self, kernel: Kernel, owner: str) -> None:
        """update(retries=n) calls fn at most n + 1 times, then raises ConflictError."""
        s = kernel.state.scope("user", owner)
        other = kernel.state.scope("user", owner)
        await s.set("n", 0)
        calls = []

        async def always_loses(n: Any) -> Any:
            calls.append(n)
            await other.update("n", lambda m: m + 100, retries=0)
            return n + 1

        with pytest.raises(ConflictError):
            await s.update("n", always_loses, retries=3)
        assert len(calls) == 4
        assert await s.get("n") == 400

    async def test_attrs_values_round_trip(self, kernel: Kernel, owner: str) -> None:
        """attrs values are stored as JSON and come back as dicts, or as the class with cls=."""
        s = kernel.state.scope("agent", owner)
        await s.set("profile", Profile("ada", ("en", "fr")))
        assert await s.get("profile") == {"name": "ada", "langs": ["en", "fr"]}
        assert await s.get("profile", cls=Profile) == Profile("ada", ("en", "fr"))
        updated = await s.update("profile", lambda p: attrs.evolve(p, name="bob"), cls=Profile)
        assert updated.value == Profile("bob", ("en", "fr"))
        assert (await s.get_many(["profile"], cls=Profile)) == {"profile": Profile("bob", ("en", "fr"))}

    async def test_bad_values_are_refused_before_writing(self, kernel: Kernel, owner: str) -> None:
        """A value that is not JSON (objects, sets, NaN, non-string keys, ints beyond 64 bits)
        raises SerializationError naming its JSON path, and nothing is written."""
        s = kernel.state.scope("user", owner)
        await s.set("k", "good")
        cases: list[tuple[Any, str]] = [
            ({"a": {"b": [1, object()]}}, "$.a.b[1]"),
            ({"when": {1, 2}}, "$.when"),
            ([math.nan], "$[0]"),
            ({1: "int key"}, "$"),
            (2**70, "$"),
        ]
        for value, path in cases:
            with pytest.raises(SerializationError) as info:
                await s.set("k", value)
            assert info.value.path == path

            def bad(_: Any, v: Any = value) -> Any:
                return v

            with pytest.raises(SerializationError):
                await s.update("k", bad)
        kept = await s.get_versioned("k")
        assert kept is not None and kept.version == 1
        with pytest.raises(SerializationError):
            await s.set("fresh", object())
        assert await s.list() == ["k"]

    async def test_bad_keys_scopes_and_owners(self, kernel: Kernel, owner: str) -> None:
        """Empty keys, keys with control characters and non-strings raise ValidationError; an
        unknown scope raises UnknownNameError listing the scopes; an empty, control-character or
        non-string owner raises ValidationError; a negative expected version raises ValidationError."""
        s = kernel.state.scope("user", owner)
        bad_keys: tuple[Any, ...] = ("", "line\nbreak", "nul\x00", 7, None)  # non-strings on purpose
        for key in bad_keys:
            with pytest.raises(ValidationError):
                await s.set(key, 1)
            with pytest.raises(ValidationError):
                await s.get(key)
        assert await s.list() == [], "rule: a refused key writes nothing"
        with pytest.raises(UnknownNameError) as info:
            kernel.state.scope("global", owner)
        assert "user" in str(info.value) and "temp" in str(info.value), "rule: an unknown scope lists the scopes"
        bad_owners: tuple[Any, ...] = (None, "", "a\tb", 7)
        for bad_owner in bad_owners:
            with pytest.raises(ValidationError):
                kernel.state.scope("user", bad_owner)
        with pytest.raises(ValidationError):
            await s.set("k", 1, expected_version=-2)

    async def test_key_of_the_maximum_length_in_multibyte_characters(self, kernel: Kernel, owner: str) -> None:
        """A key of exactly MAX_KEY_LENGTH (512) characters, made of 3-byte and 4-byte UTF-8
        characters, is accepted (written, read back, listed); one character more raises
        ValidationError naming the limit. The limit counts characters, not bytes."""
        s = kernel.state.scope("user", owner)
        longest = multibyte(MAX_KEY_LENGTH)
        assert await s.set(longest, "v") == 1, "rule: a key of MAX_KEY_LENGTH characters is accepted"
        assert await s.get(longest) == "v", "rule: a key of MAX_KEY_LENGTH characters reads back"
        assert await s.list() == [longest], "rule: a key of MAX_KEY_LENGTH characters is listed whole"
        for call in (s.set(longest + "x", 1), s.get(longest + "x")):
            with raises(ValidationError, "a key over MAX_KEY_LENGTH raises ValidationError naming the limit",
                        match=str(MAX_KEY_LENGTH)):
                await call
        assert await s.list() == [longest], "rule: a key over the limit writes nothing"

    async def test_owner_of_the_maximum_length_in_multibyte_characters(self, kernel: Kernel, owner: str) -> None:
        """An owner id of exactly MAX_OWNER_LENGTH (256) characters of 3-byte and 4-byte UTF-8,
        with a key of MAX_KEY_LENGTH (the longest record key the service writes), is accepted
        and isolated from other owners; one character more raises ValidationError naming the limit."""
        longest_owner = owner + multibyte(MAX_OWNER_LENGTH - len(owner))
        s = kernel.state.scope("user", longest_owner)
        key = multibyte(MAX_KEY_LENGTH)
        assert await s.set(key, "v") == 1, "rule: an owner of MAX_OWNER_LENGTH characters is accepted"
        assert await s.get(key) == "v" and await s.list() == [key], "rule: ... and reads back"
        assert await kernel.state.scope("user", owner).list() == [], "rule: owners are isolated"
        with raises(ValidationError, "an owner over MAX_OWNER_LENGTH raises ValidationError naming the limit",
                    match=str(MAX_OWNER_LENGTH)):
            kernel.state.scope("user", longest_owner + "x")

    async def test_reject_policy(self, make_state_kernel: Callable[..., Kernel], owner: str) -> None:
        """Under the reject policy a write by a handle that never read the key (or read an older
        version) raises ConflictError; creating is fine; other keys stay last-write-wins."""
        async with make_state_kernel(config={"state": {"policies": {"cart.*": "reject"}}}) as kernel:
            a, b = kernel.state.scope("user", owner), kernel.state.scope("user", owner)
            assert await a.set("cart.items", [1]) == 1  # creating is fine
            with pytest.raises(ConflictError):
                await b.set("cart.items", [2])  # b never read it: a blind overwrite
            assert await b.get("cart.items") == [1]
            assert await b.set("cart.items", [1, 2]) == 2
            with pytest.raises(ConflictError) as info:
                await a.set("cart.items", [1, 3])  # a's view is stale
            assert info.value.current_value == [1, 2]
            assert await a.set("plain", 1) == 1 and await b.set("plain", 2) == 2  # last write wins

    async def test_merge_policies(self, make_state_kernel: Callable[..., Kernel], owner: str) -> None:
        """Under merge:<reducer> policies concurrent sets combine (counter_add, list_append,
        set_union, deep_merge, max, min); an explicit expected_version replaces; a value the reducer
        refuses raises ValidationError."""
        policies = {
            "hits": "merge:counter_add",
            "log": "merge:list_append",
            "tags": "merge:set_union",
            "prefs": "merge:deep_merge",
            "best": "merge:max",
            "low": "merge:min",
        }
        async with make_state_kernel(config={"state": {"policies": policies}}) as kernel:
            s = kernel.state.scope("user", owner)
            for _ in range(3):
                await s.set("hits", 2)
            await s.set("log", "a")
            await s.set("log", ["b", "c"])
            await s.set("tags", ["x", "y"])
            await s.set("tags", ["y", "z"])
            await s.set("prefs", {"ui": {"dark": True, "size": 1}})
            await s.set("prefs", {"ui": {"size": 2}, "lang": "en"})
            for n in (3, 9, 4):
                await s.set("best", n)
                await s.set("low", n)
            got = await s.get_many(list(policies))
            assert got == {
                "hits": 6,
                "log": ["a", "b", "c"],
                "tags": ["x", "y", "z"],
                "prefs": {"ui": {"dark": True, "size": 2}, "lang": "en"},
                "best": 9,
                "low": 3,
            }
            hits = await s.get_versioned("hits")
            assert hits is not None and hits.version == 3
            await s.set("hits", 5, expected_version=3)  # an explicit CAS replaces
            assert await s.get("hits") == 5
            with pytest.raises(ValidationError):
                await s.set("hits", "not a number")
            assert await s.get("hits") == 5

    async def test_unknown_reducer_is_a_clear_error(self, make_state_kernel: Callable[..., Kernel], owner: str) -> None:
        """An unknown reducer in config raises ConfigError listing the known reducers; set_policy
        with one raises UnknownNameError."""
        with pytest.raises(ConfigError) as info:
            make_state_kernel(config={"state": {"policies": {"x": "merge:nope"}}})
        assert "nope" in str(info.value) and "counter_add" in str(info.value)
        async with make_state_kernel() as kernel:
            with pytest.raises(UnknownNameError) as unknown:
                kernel.state.set_policy("x", "merge:nope")
            assert "counter_add" in str(unknown.value)
            s = kernel.state.scope("user", owner)
            await s.set("x", 1)
            assert await s.get("x") == 1
