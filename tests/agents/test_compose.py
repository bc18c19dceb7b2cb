"""Composition: sequential, loop, router (rule and choice), wrappers (retry, timeout, cache, guard)."""

from __future__ import annotations

import pytest

from llmspell.errors import DeadlineExceeded, LimitExceeded, ValidationError
from llmspell.plugins.agents import GuardBlocked


async def test_sequential_feeds_each_output_to_the_next(kernel):
    kernel.agents.create("echo", name="one", prefix="1")
    kernel.agents.create("echo", name="two", prefix="2")
    seq = kernel.agents.create("sequential", name="seq", agents=["one", "two"])
    out = await kernel.run(seq, "x")
    assert out.content == "2: 1: x"
    assert out.data["steps"] == [{"agent": "one", "content": "1: x"}, {"agent": "two", "content": "2: 1: x"}]
    assert kernel.agents.get("one").status.value == "ready"


async def test_parallel_runs_children_concurrently(kernel):
    kernel.agents.create("echo", name="slow1", delay=0.5)
    kernel.agents.create("echo", name="slow2", delay=0.5)
    par = kernel.agents.create("parallel", name="par", agents=["slow1", "slow2"])
    order: list[tuple[str, str]] = []
    kernel.callbacks.on("agent_before", lambda call: order.append(("start", call.component.name)))
    kernel.callbacks.on("agent_after", lambda call: order.append(("end", call.component.name)))
    out = await kernel.run(par, "x")
    children = [kind for kind, name in order if name != "par"]
    assert children == ["start", "start", "end", "end"]  # one after the other: start, end, start, end
    assert out.data["branches"] == {"slow1": "echo: x", "slow2": "echo: x"}


async def test_loop_until_pattern_and_limit(kernel):
    kernel.agents.create("echo", name="grow", prefix="+")
    loop = kernel.agents.create("loop", name="loop", agents=["grow"], until=r"^(\+: ){3}", max_iterations=10)
    out = await kernel.run(loop, "x")
    assert out.content == "+: +: +: x" and out.metadata["iterations"] == 3
    capped = kernel.agents.create("loop", name="capped", agents=["grow"], until="never", max_iterations=2)
    assert (await kernel.run(capped, "x")).metadata == {"iterations": 2, "stopped": "limit"}
    strict = kernel.agents.create("loop", name="strict", agents=["grow"], until="never", max_iterations=2,
                                  fail_at_limit=True)
    with pytest.raises(LimitExceeded, match="condition not met in 2 iterations"):
        await kernel.run(strict, "x")


def stop_after_two(output, iteration):
    return iteration >= 2


async def test_loop_condition_function(kernel):
    kernel.agents.create("echo", name="e")
    loop = kernel.agents.create("loop", name="l", agents=["e"], condition="tests.agents.test_compose:stop_after_two")
    assert (await kernel.run(loop, "x")).metadata["iterations"] == 2


async def test_router_by_rule_by_choice_and_default(kernel):
    kernel.agents.create("echo", name="billing", prefix="billing")
    kernel.agents.create("echo", name="support", prefix="support")
    kernel.agents.create("chat", name="chooser", system="You route requests.")
    router = kernel.agents.create("router", name="r", agents=["billing", "support", "chooser"],
                                  routes={r"\binvoice\b": "billing"}, chooser="chooser", default="support")
    out = await kernel.run(router, "my invoice is wrong")
    assert out.content == "billing: my invoice is wrong" and out.metadata["route"] == "billing"
    assert out.metadata["route_reason"] == "rule '\\\\binvoice\\\\b'"
    kernel.agents.provider().script("support, clearly")
    out = await kernel.run(router, "the app crashes")
    assert out.metadata["route"] == "support" and out.metadata["route_reason"] == "chosen by chooser"
    kernel.agents.provider().script("no idea")
    out = await kernel.run(router, "hello")
    assert out.metadata["route_reason"] == "default"
    bare = kernel.agents.create("router", name="bare", agents=["billing"], routes={"x": "billing"})
    with pytest.raises(ValidationError, match="router 'bare' found no route for 'hello' and has no default"):
        await kernel.run(bare, "hello")


async def test_retry_with_backoff(kernel):
    flaky = kernel.agents.create("echo", name="flaky", fail_times=2)
    retry = kernel.agents.create("retry", name="retry", agents=["flaky"], attempts=3, backoff=0.01)
    out = await kernel.run(retry, "x")
    assert out.content == "echo: x" and out.metadata["attempts"] == 3 and flaky.runs == 3
    kernel.agents.create("echo", name="broken", fail_times=10)
    give_up = kernel.agents.create("retry", name="give-up", agents=["broken"], attempts=2, backoff=0)
    with pytest.raises(ConnectionError, match="run 2 failed"):
        await kernel.run(give_up, "x")


async def test_retry_does_not_retry_bad_input(kernel):
    from .agent_helpers import Echo

    class Picky(Echo):
        def validate_input(self, request):
            raise ValidationError("bad input")

    inner = kernel.agents.create(Picky, name="inner")
    retry = kernel.agents.create("retry", name="retry", agents=["inner"], attempts=5, backoff=0)
    with pytest.raises(ValidationError):
        await kernel.run(retry, "x")
    assert inner.runs == 0


async def test_timeout_wrapper(kernel):
    kernel.agents.create("echo", name="slow", delay=2)
    wrapped = kernel.agents.create("timeout", name="t", agents=["slow"], seconds=0.05)
    with pytest.raises(DeadlineExceeded, match=r"agent 'slow' took longer than 0.05 s \(timeout wrapper 't'\)"):
        await kernel.run(wrapped, "x")


async def test_cache_by_input_hash(kernel):
    inner = kernel.agents.create("echo", name="costly")
    cache = kernel.agents.create("cache", name="cache", agents=["costly"], ttl=60)
    first = await kernel.run(cache, "question")
    second = await kernel.run(cache, "question")
    other = await kernel.run(cache, "another")
    assert first.content == second.content == "echo: question"
    assert (first.metadata["cache"], second.metadata["cache"], other.metadata["cache"]) == ("miss", "hit", "miss")
    assert inner.runs == 2 and (cache.hits, cache.misses) == (1, 2)
    assert len(first.metadata["key"]) == 64


async def test_guard_blocks_input_and_output(kernel):
    kernel.agents.create("echo", name="inner")
    guard = kernel.agents.create("guard", name="g", agents=["inner"], deny=[r"\bpassword\b"],
                                 deny_output=[r"\d{4}-\d{4}"], message="Blocked.")
    assert (await kernel.run(guard, "hello")).content == "echo: hello"
    blocked = await kernel.run(guard, "tell me the password")
    assert blocked.content == "Blocked." and blocked.metadata == {"guard": "input", "why": "matches '\\\\bpassword\\\\b'"}
    assert (await kernel.run(guard, "card 1234-5678")).metadata["guard"] == "output"
    strict = kernel.agents.create("guard", name="strict", agents=["inner"], deny=["x"], raise_on_block=True)
    with pytest.raises(GuardBlocked, match="guard 'strict' blocked the input: matches 'x'"):
        await kernel.run(strict, "x")


async def test_wrappers_need_exactly_one_inner_agent(kernel):
    kernel.agents.create("echo", name="a")
    kernel.agents.create("echo", name="b")
    both = kernel.agents.create("retry", name="r", agents=["a", "b"])
    with pytest.raises(ValidationError, match="wraps exactly one agent"):
        await kernel.run(both, "x")
    empty = kernel.agents.create("sequential", name="s")
    with pytest.raises(ValidationError, match="has no children"):
        await kernel.run(empty, "x")


async def test_parallel_failure_cancels_the_other_branches(kernel):
    # the slow branch would sleep an hour: the run can only end here if it was cancelled
    slow = kernel.agents.create("echo", name="slow", delay=3600)
    kernel.agents.create("echo", name="broken", fail_times=1)
    par = kernel.agents.create("parallel", name="par", agents=["slow", "broken"])
    with pytest.raises(ConnectionError, match="run 1 failed"):
        await kernel.run(par, "x")
    assert slow.runs == 1  # it had started
    assert slow.status.value == "ready"  # the cancelled branch left its agent usable
