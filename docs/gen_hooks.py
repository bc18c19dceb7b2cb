"""Write docs/hooks.md from llmspell.hookspecs (run: python docs/gen_hooks.py).

tests/test_docs.py fails when docs/hooks.md and the hook specifications drift apart.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from llmspell import hooks, hookspecs
from llmspell.kernel import REGISTRATION_HOOKS
from llmspell.plugins import hooks as hooks_plugin

OUT = Path(__file__).with_name("hooks.md")

INTRO = """\
# Hook reference

This page is generated from `llmspell/hookspecs.py` by `docs/gen_hooks.py`; edit the
docstrings there, then run `python docs/gen_hooks.py`. A test fails when the two differ.

A plugin implements a hook by defining a function with the hook's name, decorated with
`@llmspell.hookimpl`, taking any subset of the hook's arguments:

```python
from llmspell import hookimpl, Replace

@hookimpl
def llmspell_model_before(call):
    if call.request.messages[-1].content == "ping":
        return Replace(canned_pong())
```

Unless a hook says "sync only", an implementation may be `async def`.

## Calling a hook

Every hook is called one way, through `kernel.hook`, which has one attribute per hook of
this page (its name without `llmspell_`). A plugin runs a hook point with
`call = await kernel.hook.state_before_write(request=write)` and reads what the hooks
changed from the returned `HookCall`; a point is true when anything is attached, so hot
paths can skip building a request. Each call goes through pluggy
(`kernel.pm.hook.llmspell_<name>`), so pluggy's ordering, wrappers, tracing
(`LLMSPELL_DEBUG=1`) and `pm.add_hookcall_monitoring` see every call: registration,
startup, hook points and shutdown alike. (While nothing watches pluggy and a point has
no wrapper, the kernel runs the steps pluggy would hand back, in pluggy's order, without
the call itself: the result is the same, and it is a pluggy call again as soon as tracing
or monitoring is installed.) A hook reaches its kernel as `call.kernel`
(`call.kernel.config.section("myplugin")`).

Hook points are named `<area>_<when>`. The points renamed in this release keep their old
names, as runtime hook points and as `llmspell_<old>` plugin hooks, with a
`DeprecationWarning`, until the next release:

| old name | new name |
|---|---|
""" + "".join(f"| `{old}` | `{new}` |\n" for old, new in hooks.RENAMED.items()) + """
## Hook points, runtime hooks and callbacks
"""


def sections() -> list[tuple[str, list[str]]]:
    source = inspect.getsource(hookspecs)
    out: list[tuple[str, list[str]]] = []
    title = ""
    for line in source.splitlines():
        heading = re.match(r"# ([A-Z][^-].*)$", line)
        if heading:
            title = heading.group(1).strip()
            out.append((title, []))
        spec = re.match(r"def (llmspell_\w+)\(", line)
        if spec and out:
            out[-1][1].append(spec.group(1))
    return out


def kind_of(name: str) -> str:
    point = name.removeprefix("llmspell_")
    if point in hooks.POINTS:
        return f"hook point `{point}`: also takes runtime hooks and callbacks"
    if name in REGISTRATION_HOOKS:
        return f"registration: fills `kernel.registry(\"{REGISTRATION_HOOKS[name]}\")`"
    return "lifecycle: called by the kernel"


def render() -> str:
    parts = [INTRO, inspect.cleandoc(hooks.__doc__ or ""), "", inspect.cleandoc(hooks_plugin.__doc__ or ""), ""]
    for title, names in sections():
        parts.append(f"## {title}\n")
        for name in names:
            fn = getattr(hookspecs, name)
            signature = str(inspect.signature(fn)).replace("'", "")
            doc = inspect.cleandoc(fn.__doc__ or "")
            parts.append(f"### `{name}{signature}`\n\n*{kind_of(name)}*\n\n{doc}\n")
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
