"""Event-id claims: the permanent idempotence of the NATS event log.

JetStream's ``Nats-Msg-Id`` forgets an id after the stream's duplicate window, and a
batch of events is one message, so the log keeps an index of its own: the subject
``<prefix>.ids.<event id>`` in a stream that keeps one message per subject. Before an
append stores an event, it *claims* the id with a conditional publish that succeeds only
if the subject is empty (``Nats-Expected-Last-Subject-Sequence: 0``). The claim records
where the event is going (stream and sequence number), when, and a nonce of the append.

* The append that wins the claim stores the event; one that loses finds the claim and
  returns the stored event as a duplicate, waiting (briefly) if the winner is still
  writing.
* If the winner's process died before storing it, the claim points at a position that
  does not hold the event; once it is older than ``[nats] claim_timeout`` another append
  takes it over with a conditional update on the claim's revision.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import attrs
import orjson

from llmspell.errors import BackendUnavailable

from ._jetstream import WRONG_LAST_SEQUENCE, JetStream, JetStreamError, PubAck
from .naming import token

__all__ = ["Claim", "Claims"]


@attrs.frozen
class Claim:
    """Where an event id is (or is being) stored, by which append, since when."""

    stream: str
    seq: int
    time: float
    nonce: str
    rev: int = 0
    """The claim message's stream sequence (for conditional updates)."""

    def encode(self) -> bytes:
        return orjson.dumps({"s": self.stream, "q": self.seq, "t": self.time, "n": self.nonce})


class Claims:
    """The id index of one log (``<prefix>.ids.>`` in the ``<prefix>_ids`` stream)."""

    def __init__(self, jetstream: JetStream, stream: str, subject_prefix: str) -> None:
        self.jetstream = jetstream
        self.stream = stream
        self.subject_prefix = subject_prefix

    def subject(self, event_id: str) -> str:
        return self.subject_prefix + token(event_id)

    async def create(self, items: Sequence[tuple[str, Claim]]) -> list[int | None]:
        """Claim each ``(event id, claim)``; the new revision, or None where a claim exists."""
        return await self._publish([(event_id, claim, 0) for event_id, claim in items])

    async def update(self, items: Sequence[tuple[str, Claim, int]]) -> list[int | None]:
        """Replace each claim at revision ``rev``; the new revision, or None where it changed."""
        return await self._publish(items)

    async def _publish(self, items: Sequence[tuple[str, Claim, int]]) -> list[int | None]:
        if not items:
            return []
        acks = await self.jetstream.publish_many([
            (self.subject(event_id), claim.encode(), {"Nats-Expected-Last-Subject-Sequence": str(rev)})
            for event_id, claim, rev in items
        ])
        out: list[int | None] = []
        for ack in acks:
            if isinstance(ack, PubAck):
                out.append(ack.seq)
            elif ack.err_code == WRONG_LAST_SEQUENCE:  # someone else's claim is there
                out.append(None)
            else:
                raise _refused(ack)
        return out

    async def read(self, event_id: str) -> Claim | None:
        msg = await self.jetstream.last(self.stream, self.subject(event_id))
        if msg is None or not msg.data:
            return None
        try:
            data = orjson.loads(msg.data)
            return Claim(str(data["s"]), int(data["q"]), float(data["t"]), str(data["n"]), msg.seq)
        except (ValueError, KeyError, TypeError):
            return None  # not a claim this code wrote: treated as absent, and replaced

    async def drop(self, event_ids: Sequence[str]) -> None:
        """Remove claims (after a failed append, or with their stream)."""
        import asyncio

        await asyncio.gather(*(self.jetstream.purge(self.stream, self.subject(i)) for i in event_ids))


def _refused(error: JetStreamError) -> BackendUnavailable:
    return BackendUnavailable(f"JetStream refused an event-id claim: {error.description} (error {error.err_code})")


def now() -> float:
    return time.time()
