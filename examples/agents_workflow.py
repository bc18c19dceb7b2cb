"""A composed multi-agent workflow: a guard, a triage agent that hands off, a billing agent,
and two reviewers running in parallel whose state writes merge through conflict policies.

* ``front`` (guard) refuses requests mentioning passwords, then passes on to ``triage``;
* ``triage`` (tool-calling) hands the conversation off to ``billing`` through its
  ``transfer_to_billing`` tool; handoff hooks drop the card number and rename a key;
* ``reviews`` (parallel) runs two custom ``Reviewer`` agents at once; their deltas merge:
  ``reviews`` appends (``merge:list_append``), ``review_count`` adds (``merge:counter_add``).

Run it with ``python examples/agents_workflow.py [DATA_DIR]``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from typing import Any

import attrs

from llmspell import Kernel
from llmspell.plugins.agents import AgentConfig, BaseAgent, drop, rename
from llmspell.plugins.agents.api import AgentOutput

CONFIG = {
    "state": {"policies": {"reviews": "merge:list_append", "review_count": "merge:counter_add"}},
    # canned answers of the offline model provider (regex on the user's message -> reply)
    "agents": {"replies": {r"invoice (\d+).*twice": "Sorry: invoice {0} was charged twice; I have refunded the duplicate."}},
}


@attrs.frozen
class ReviewerConfig(AgentConfig):
    focus: str = "tone"


@attrs.define(eq=False, kw_only=True)
class Reviewer(BaseAgent):
    """Reviews a text for one aspect and records the review in the app state."""

    Config = ReviewerConfig
    type_name = "reviewer"
    config: ReviewerConfig = attrs.field(factory=ReviewerConfig)

    async def execute(self, request: Any, ctx: Any) -> AgentOutput:
        review = f"{self.config.focus}: ok ({len(request.text.split())} words)"
        return AgentOutput(content=review, state_delta={"app:reviews": review, "app:review_count": 1})


def build_workflow(kernel: Kernel) -> dict[str, BaseAgent]:
    """Create the workflow's agents and its handoff hooks; returns them by name."""
    kernel.agents.create("chat", name="billing", system="You handle invoices and refunds.",
                         description="answers billing questions")
    triage = kernel.agents.create("tool", name="triage", agents=["billing"], tools=["calculator"],
                                  system="Route the customer to the right desk.", pass_state=["customer", "card_number"])
    front = kernel.agents.create("guard", name="front", agents=["triage"], deny=[r"\bpassword\b"],
                                 message="For your safety, never share passwords.")
    kernel.agents.create(Reviewer, name="tone-reviewer", focus="tone")
    kernel.agents.create(Reviewer, name="facts-reviewer", focus="facts")
    reviews = kernel.agents.create("parallel", name="reviews", agents=["tone-reviewer", "facts-reviewer"])
    kernel.hooks.register("agent_handoff", drop(["card_number"]), priority=20, name="drop-card")
    kernel.hooks.register("agent_handoff", rename({"customer": "client"}), priority=10, name="rename-customer")
    return {"front": front, "triage": triage, "reviews": reviews}


async def main(data_dir: str) -> None:
    async with Kernel(CONFIG, data_dir=data_dir) as kernel:
        agents = build_workflow(kernel)
        blocked = await kernel.run(agents["front"], "my password is hunter2")
        print(f"front (guard): {blocked.content}")
        request = "Please transfer me to billing: invoice 1042 charged me twice."
        from llmspell.plugins.agents.api import AgentRequest

        out = await kernel.run(agents["front"], AgentRequest(request, state={"customer": "Ada", "card_number": "4111"}))
        print(f"handoffs: {' -> '.join(out.trail)}; answer from {out.agent}: {out.content}")
        await kernel.run(agents["reviews"], out.content)
        app = kernel.state.scope("app")
        print(f"state: reviews={await app.get('reviews')} review_count={await app.get('review_count')}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-workflow-") as tmp:
            asyncio.run(main(tmp))
