"""The ``redis`` session backend: session records with indexes for listing.

Layout (``P`` is ``{prefix:sessions}:``)::

    P r:<id>        hash  v = version, d = the record's JSON, t = last write's token,
                          u = "=" + user id ("" for none), a = app
    P created       zset  id -> created_at (microseconds since 1970)
    P user:<user>   zset  the same, for one user
    P app:<app>     zset  the same, for one app

``put`` is one Lua script: it checks the version, writes the record and moves it between
the index sets, atomically. ``list`` walks the most selective index newest first
(``user_id``, else ``app``, else all) and applies the other filters to the records it
reads, so listing one user's sessions does not read anyone else's.
"""

from __future__ import annotations

import base64
import builtins
import functools
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from llmspell import serde
from llmspell.errors import ConflictError, ValidationError
from llmspell.plugins.sessions.api import Session, SessionPage, SessionQuery
from llmspell.plugins.sessions.backend import MAX_LIMIT, decode_listed, decode_record, encode_cursor

from ._client import RedisConnection, keyspace
from .config import RedisConfig
from .state import drop_space

__all__ = ["RedisSessionBackend"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: KEYS: record, created index.  ARGV: id, data, expected, token, score, "=user" or "", app, index prefix.
_PUT = """#!lua
local cur = redis.call('HMGET', KEYS[1], 'v', 'd', 't', 'u', 'a')
local v = tonumber(cur[1])
if v and cur[3] == ARGV[4] then return {1, v} end
if (v or 0) ~= tonumber(ARGV[3]) then return {0, cur[1] or false, cur[2] or false} end
local p = ARGV[8]
if v then
  if cur[4] and cur[4] ~= '' then redis.call('ZREM', p .. 'user:' .. string.sub(cur[4], 2), ARGV[1]) end
  if cur[5] then redis.call('ZREM', p .. 'app:' .. cur[5], ARGV[1]) end
end
local new = (v or 0) + 1
redis.call('HSET', KEYS[1], 'v', new, 'd', ARGV[2], 't', ARGV[4], 'u', ARGV[6], 'a', ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
if ARGV[6] ~= '' then redis.call('ZADD', p .. 'user:' .. string.sub(ARGV[6], 2), ARGV[5], ARGV[1]) end
redis.call('ZADD', p .. 'app:' .. ARGV[7], ARGV[5], ARGV[1])
return {1, new}
"""

#: KEYS: record, created index.  ARGV: id, index prefix.  Returns 1 if it existed.
_DELETE = """#!lua
local cur = redis.call('HMGET', KEYS[1], 'u', 'a')
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local p = ARGV[2]
if cur[1] and cur[1] ~= '' then redis.call('ZREM', p .. 'user:' .. string.sub(cur[1], 2), ARGV[1]) end
if cur[2] then redis.call('ZREM', p .. 'app:' .. cur[2], ARGV[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""

#: KEYS: index.  ARGV: max score, offset, count, record prefix.
#: Returns {members read, id, score, version, data, ...} newest first.
_PAGE = """#!lua
local found = redis.call('ZRANGE', KEYS[1], ARGV[1], '-inf', 'BYSCORE', 'REV', 'LIMIT',
                         tonumber(ARGV[2]), tonumber(ARGV[3]), 'WITHSCORES')
local out = {#found / 2}
for i = 1, #found, 2 do
  local r = redis.call('HMGET', ARGV[4] .. found[i], 'v', 'd')
  if r[1] then
    out[#out + 1] = found[i]
    out[#out + 1] = found[i + 1]
    out[#out + 1] = tonumber(r[1])
    out[#out + 1] = r[2]
  end
end
return out
"""


def _score(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        created, session_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        return _score(datetime.fromisoformat(created).astimezone(UTC)), str(session_id)
    except Exception:  # noqa: BLE001 - any garbage is the same user error
        raise ValidationError(f"invalid session list cursor {cursor!r}") from None


class RedisSessionBackend:
    """A :class:`~llmspell.plugins.sessions.backend.SessionBackend` on Redis, shared by any number of processes."""

    def __init__(self, config: RedisConfig, *, space: str | None = None) -> None:
        self.config = config
        self.space = space or keyspace(config, "sessions")
        self.conn = RedisConnection(config, "sessions")
        self._created = (self.space + "created").encode()
        self._put: Any = None
        self._delete: Any = None
        self._page: Any = None

    def _key(self, session_id: str) -> bytes:
        return (self.space + "r:" + session_id).encode()

    async def open(self) -> None:
        client = await self.conn.open()
        self._put = client.register_script(_PUT)
        self._delete = client.register_script(_DELETE)
        self._page = client.register_script(_PAGE)

    async def close(self) -> None:
        await self.conn.close()

    async def health(self) -> builtins.list[str]:
        return await self.conn.health()

    async def drop(self) -> int:
        """Delete every session record and index of this key space."""
        return await drop_space(self.conn, self.space)

    def _decode(self, raw: bytes, where: str, version: int) -> Session:
        return decode_record(raw, version, f"{where!r} in Redis")

    async def get(self, session_id: str) -> Session | None:
        key = self._key(session_id)
        version, data = await self.conn.call(lambda c: c.hmget(key, "v", "d"))
        return None if version is None else self._decode(data, session_id, int(version))

    async def put(self, session: Session, *, expected_version: int) -> Session:
        stored = session.replace(version=expected_version + 1)
        user = "" if session.user_id is None else "=" + session.user_id
        args = [session.id.encode(), serde.dumps(stored), expected_version, os.urandom(12).hex(),
                _score(session.created_at), user.encode(), session.app.encode(), self.space.encode()]
        keys = [self._key(session.id), self._created]
        reply = await self.conn.call(lambda c: self._put(keys=keys, args=args, client=c), write=True)
        if reply[0] == 1:
            return stored
        current = None if reply[1] is None else self._decode(reply[2], session.id, int(reply[1]))
        raise ConflictError(
            f"session:{session.id}", expected=expected_version,
            current_version=None if current is None else current.version, current_value=current,
        )

    async def delete(self, session_id: str) -> bool:
        keys = [self._key(session_id), self._created]
        args = [session_id.encode(), self.space.encode()]
        return bool(await self.conn.call(lambda c: self._delete(keys=keys, args=args, client=c), write=True))

    async def _page_of(self, index: bytes, args: builtins.list[Any], client: Any) -> Any:
        return await self._page(keys=[index], args=args, client=client)

    def _index(self, query: SessionQuery) -> bytes:
        if query.user_id is not None:
            return (self.space + "user:" + query.user_id).encode()
        if query.app is not None:
            return (self.space + "app:" + query.app).encode()
        return self._created

    async def list(self, query: SessionQuery) -> SessionPage:
        if not 1 <= query.limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
        after = _decode_cursor(query.cursor) if query.cursor else None
        index = self._index(query)
        top = str(after[0]).encode() if after else b"+inf"
        record_prefix = (self.space + "r:").encode()
        chunk = max(query.limit + 1, 100)
        found: builtins.list[Session] = []
        skipped: builtins.list[tuple[str, str]] = []
        offset = 0
        while len(found) <= query.limit:
            args = [top, offset, chunk, record_prefix]
            flat = await self.conn.call(functools.partial(self._page_of, index, args))
            for i in range(1, len(flat), 4):
                sid, score = flat[i].decode(), int(float(flat[i + 1]))
                if after is not None and score == after[0] and sid >= after[1]:
                    continue
                session = decode_listed(flat[i + 3], int(flat[i + 2]), f"{sid!r} in Redis", sid, skipped)
                if session is not None and query.matches(session):
                    found.append(session)
                    if len(found) > query.limit:
                        break
            if int(flat[0]) < chunk:
                break
            offset += chunk
        items = tuple(found[: query.limit])
        more = len(found) > query.limit
        return SessionPage(items, encode_cursor(items[-1]) if more and items else None, tuple(skipped))
