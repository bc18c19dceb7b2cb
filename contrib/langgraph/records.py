"""How the checkpointer lays out a thread in llmspell state, and how it encodes values.

A thread is an llmspell session; its checkpoints are keys of that session's state
(scope ``session``), so they live on whatever state backend the kernel uses and are
copied by ``kernel.sessions.fork`` and removed by ``kernel.sessions.delete``::

    langgraph/head/<ns>          {"id": latest checkpoint id}            compare-and-set
    langgraph/cp/<ns>/<id>       one checkpoint (written once)
    langgraph/writes/<ns>/<id>   the pending writes of that checkpoint     update (CAS)

``<ns>`` is the checkpoint namespace with ``%`` and ``/`` escaped (the root namespace
is empty). A checkpoint record holds the checkpoint without its channel values, its
metadata, its parent id, the values of the channels this checkpoint changed (its
``new_versions``), and for every channel the id of the checkpoint record that holds the
value at the channel's current version, so a value that did not change is stored once.

Values are stored as JSON. Plain JSON data is stored as it is (``{"j": value}``);
anything else (LangChain messages, pydantic models, tuples, sets, datetimes ...) goes
through LangGraph's own serializer and is stored as its typed form
(``{"t": "msgpack", "b": base64}``). Pickle is never used: a serializer configured with
``pickle_fallback=True`` is refused, and a stored ``pickle`` value is never loaded.
"""

from __future__ import annotations

import base64
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from llmspell.errors import IntegrityError, ValidationError

from .._interop import is_plain_json

__all__ = [
    "PREFIX",
    "escape",
    "unescape",
    "head_key",
    "cp_key",
    "cp_prefix",
    "writes_key",
    "ns_of",
    "ValueCodec",
    "matches",
]

PREFIX = "langgraph/"
HEAD = PREFIX + "head/"
CP = PREFIX + "cp/"
WRITES = PREFIX + "writes/"


def escape(text: str) -> str:
    """``text`` with ``%`` and ``/`` escaped, so it is one key segment."""
    if "%" not in text and "/" not in text:
        return text
    return text.replace("%", "%25").replace("/", "%2F")


def unescape(text: str) -> str:
    if "%" not in text:
        return text
    return text.replace("%2F", "/").replace("%25", "%")


def head_key(ns: str) -> str:
    return HEAD + escape(ns)


def cp_prefix(ns: str | None = None) -> str:
    """The prefix of the checkpoint records of ``ns`` (``None``: of every namespace)."""
    return CP if ns is None else f"{CP}{escape(ns)}/"


def cp_key(ns: str, checkpoint_id: str) -> str:
    return f"{CP}{escape(ns)}/{checkpoint_id}"


def writes_key(ns: str, checkpoint_id: str) -> str:
    return f"{WRITES}{escape(ns)}/{checkpoint_id}"


def ns_of(key: str) -> tuple[str, str]:
    """``(namespace, checkpoint id)`` of a checkpoint record's key."""
    body = key[len(CP) :]
    ns, _, checkpoint_id = body.rpartition("/")
    return unescape(ns), checkpoint_id


def _lookup(metadata: Any, key: str) -> Any:
    """The value of a metadata filter key: the key itself, else a dotted path into nested dicts."""
    if key in metadata or "." not in key:
        return metadata.get(key)
    value = metadata
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def matches(metadata: dict[str, Any], filter: dict[str, Any]) -> bool:
    """Whether checkpoint metadata matches a ``list(filter=...)`` query.

    Each key is a metadata key (as in ``InMemorySaver``) or, when no such key exists, a
    dotted path into nested metadata (``{"user.access-level": "nested"}``, as in
    ``SqliteSaver``). A ``None`` value matches a missing key, as in both.
    """
    return all(_lookup(metadata, key) == value for key, value in filter.items())


class ValueCodec:
    """Channel values, writes, checkpoints and metadata to JSON data and back."""

    def __init__(self, serde: SerializerProtocol | None = None) -> None:
        serde = serde or JsonPlusSerializer()
        if getattr(serde, "pickle_fallback", False):
            raise ValidationError(
                "the llmspell checkpointer stores JSON and never pickles: pass a serializer "
                "without pickle_fallback (the default JsonPlusSerializer() is fine)"
            )
        self.serde = serde

    def encode(self, value: Any) -> dict[str, Any]:
        if is_plain_json(value):
            return {"j": value}
        kind, data = self.serde.dumps_typed(value)
        if kind == "pickle":
            raise ValidationError(f"{type(value).__name__} value would be pickled; llmspell stores JSON only")
        return {"t": kind, "b": base64.b64encode(data).decode("ascii")}

    def decode(self, stored: dict[str, Any]) -> Any:
        if "j" in stored:
            return stored["j"]
        kind = stored.get("t")
        if kind == "pickle" or not isinstance(kind, str):
            raise IntegrityError(f"refusing to load a stored checkpoint value of type {kind!r}")
        return self.serde.loads_typed((kind, base64.b64decode(stored.get("b", ""))))
