"""The ``research`` template: plan -> gather through tools -> synthesize -> save a report.

1. **plan**: the model turns the topic into at most ``max_questions`` numbered questions;
2. **gather**: for each question a function-calling loop lets the model use the agent's
   tools (by default the offline ``notes`` knowledge base); every tool result is kept as
   a finding with its source;
3. **synthesize**: the model writes the answer from the findings;
4. **report**: a Markdown report (topic, plan, findings with sources, synthesis) is
   returned as an artifact (``report_name``), saved by the service in the session.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import attrs

from llmspell.context import ExecutionContext
from llmspell.plugins.agents.api import AgentOutput, AgentRequest, ArtifactOutput, Message

from ..api import AgentConfig
from .tool import ToolAgent, ToolConfig

__all__ = ["ResearchAgent", "ResearchConfig"]

PLAN_PROMPT = "You plan research. Reply with a numbered list of short questions that together cover the topic."
GATHER_PROMPT = "You research one question. Search with your tools, then answer from what they return."
SYNTH_PROMPT = "You synthesize research findings into a short, factual answer. Cite the sources by title."


@attrs.frozen
class ResearchConfig(ToolConfig):
    """Settings of a research agent."""

    tools: list[str] = attrs.Factory(lambda: ["notes"])
    max_questions: int = 3
    """Sub-questions researched for one topic."""
    report_name: str = "report.md"
    """Name of the artifact the report is saved as."""
    max_steps: int = 4

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.max_questions < 1:
            raise ValueError(f"max_questions must be at least 1, got {self.max_questions}")


@attrs.define(eq=False, kw_only=True)
class ResearchAgent(ToolAgent):
    """Researches a topic with tools and writes a Markdown report artifact."""

    Config: ClassVar[type[AgentConfig]] = ResearchConfig
    type_name: ClassVar[str] = "research"
    default_capabilities: ClassVar[tuple[str, ...]] = ("research", "tools", "artifacts")
    config: ResearchConfig = attrs.field(factory=ResearchConfig)

    async def plan(self, topic: str, ctx: ExecutionContext) -> list[str]:
        response = await self.model([Message.system(PLAN_PROMPT), Message.user(topic)], ctx, tools=())
        questions = [re.sub(r"^\s*(?:\d+[.)]|[-*])\s*", "", line).strip() for line in response.content.splitlines()]
        questions = [q for q in questions if q]
        return questions[: self.config.max_questions] or [topic]

    async def gather(self, question: str, ctx: ExecutionContext) -> dict[str, Any]:
        messages = [Message.system(GATHER_PROMPT), Message.user(f"Research: {question}")]
        start = len(messages)
        output = await self.loop(messages, AgentRequest(question), ctx)
        sources = [m.content for m in messages[start:] if m.role == "tool"]
        return {"question": question, "answer": output.content, "sources": sources}

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        topic = request.text.strip()
        questions = await self.plan(topic, ctx)
        self.report("plan", questions)
        findings = [await self.gather(q, ctx) for q in questions]
        notes = "\n".join(f"- {f['question']}: {f['answer']}" for f in findings)
        synthesis = await self.model(
            [Message.system(SYNTH_PROMPT), Message.user(f"Topic: {topic}\nFindings:\n{notes}")], ctx, tools=()
        )
        report = self.render(topic, questions, findings, synthesis.content)
        delta = {"research/last_topic": topic} if ctx.session_id else {}
        return AgentOutput(
            content=synthesis.content,
            data={"topic": topic, "plan": questions, "findings": findings},
            artifacts=(ArtifactOutput(self.config.report_name, report.encode(), "text/markdown",
                                      metadata={"topic": topic}, tags=("research", "report")),),
            state_delta=delta,
        )

    @staticmethod
    def render(topic: str, questions: list[str], findings: list[dict[str, Any]], synthesis: str) -> str:
        lines = [f"# Research: {topic}", "", "## Plan", ""]
        lines += [f"{i}. {q}" for i, q in enumerate(questions, 1)]
        lines += ["", "## Findings", ""]
        for f in findings:
            lines += [f"### {f['question']}", "", f["answer"], ""]
            lines += [f"- source: {s}" for s in f["sources"]] or ["- (no sources found)"]
            lines.append("")
        lines += ["## Synthesis", "", synthesis, ""]
        return "\n".join(lines)
