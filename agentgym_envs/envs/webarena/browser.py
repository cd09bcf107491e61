"""A text browser over the generated sites: tabs, history, a viewport, and WebArena's id-based
actions (``click [id]``, ``type [id] [text] [1]``, ``goto [url]``, ``stop [answer]``, ...).

The page is shown as WebArena shows it with ``observation_type="accessibility_tree"`` and
``current_viewport_only=True``: one line per node, ``[id] role 'name'``, indented by depth, under a
``RootWebArea`` line, only the nodes inside the viewport. Ids are fixed by the URL and the node's
place on the page, so the same page always renders with the same ids. Model text is only ever
matched and stored, never executed.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from agentgym_envs.envs.webarena.pages import (
    Node,
    NotFound,
    is_number,
    not_found_page,
    perform,
    render_page,
    site_of,
    url_problem,
)
from agentgym_envs.envs.webarena.sites import World

VIEWPORT_NODES = 45  # nodes a screen shows; scroll moves by SCROLL_NODES
SCROLL_NODES = 30
BLANK = "about:blank"
INTERACTIVE = ("link", "button", "textbox", "searchbox")

_BLOCK = re.compile(r"```(.*?)```", re.DOTALL)
_ID_ACTION = re.compile(r"^(click|hover) \[(\d+)\]$")
_TYPE_WITH_ENTER = re.compile(r"^type \[(\d+)\] \[(.*)\] \[([01])\]$", re.DOTALL)
_TYPE = re.compile(r"^type \[(\d+)\] \[(.*)\]$", re.DOTALL)
_ONE_ARGUMENT = re.compile(r"^(press|scroll|goto|tab_focus) \[(.*)\]$", re.DOTALL)
_STOP = re.compile(r"^stop(?: \[(.*)\])?$", re.DOTALL)
_BARE = ("new_tab", "close_tab", "go_back", "go_forward")

ACTION_HELP = """Page operation actions:
`click [id]`: click the element with this id on the page.
`type [id] [content] [press_enter_after=0|1]`: type the content into the field with this id;
Enter is pressed after it unless the last argument is 0.
`hover [id]`: hover over the element with this id.
`press [key_comb]`: press a key combination (e.g. Enter, PageDown, PageUp).
`scroll [direction=down|up]`: scroll the page up or down.
Tab management actions:
`new_tab`: open a new, empty browser tab.
`tab_focus [tab_index]`: switch to the tab with this index.
`close_tab`: close the current tab.
URL navigation actions:
`goto [url]`: go to a URL.
`go_back`: go to the previous page.
`go_forward`: go to the next page (after a go_back).
Completion action:
`stop [answer]`: end the task, with the answer in the brackets if the task asks for one (else empty brackets).
Homepages: the shop http://localhost:7770, the forum http://localhost:9999, GitLab http://localhost:8023."""


class ActionError(ValueError):
    """An action that cannot be carried out; the message says why (shown to the agent)."""


@dataclass(frozen=True)
class Action:
    kind: str
    element: int | None = None
    argument: str = ""
    press_enter: bool = True


def extract_action(reply: str) -> str:
    """The action in a reply: the last triple-backtick block (WebArena's "In summary, the next
    action I will perform is ```click [1234]```"), else the reply itself."""
    blocks = [b.strip() for b in _BLOCK.findall(reply) if b.strip()]
    return blocks[-1] if blocks else reply.strip()


def parse_action(reply: str) -> Action:
    """WebArena's id-based grammar. Raises :class:`ActionError` saying what is wrong."""
    command = extract_action(reply)
    if command in _BARE:
        return Action(command)
    match = _ID_ACTION.match(command)
    if match:
        return Action(match.group(1), element=int(match.group(2)))
    match = _TYPE_WITH_ENTER.match(command) or _TYPE.match(command)
    if match:
        press_enter = match.group(3) != "0" if match.lastindex == 3 else True
        return Action("type", element=int(match.group(1)), argument=match.group(2), press_enter=press_enter)
    match = _ONE_ARGUMENT.match(command)
    if match:
        return Action(match.group(1), argument=match.group(2).strip())
    match = _STOP.match(command)
    if match:
        return Action("stop", argument=(match.group(1) or "").strip())
    first = command.split(" ", 1)[0].split("[", 1)[0]
    known = ("click", "type", "hover", "press", "scroll", "goto", "tab_focus", "stop", *_BARE)
    if first in known:
        raise ActionError(f"'{command[:80]}' is not a well-formed {first} action.")
    raise ActionError(
        f"'{command[:80]}' is not an action; the action is the last ```...``` block or the whole reply."
    )


@dataclass
class Tab:
    history: list[str]
    position: int = 0
    scroll: int = 0
    form: dict[str, str] = field(default_factory=dict)  # field -> typed text, kept until the page changes
    message: str = ""  # what the site flashed after the last form, shown until the page changes
    focus: Node | None = None  # the field typed into last: where a pressed Enter goes

    @property
    def url(self) -> str:
        return self.history[self.position]


@dataclass
class RenderedPage:
    """A page as the agent sees it: the nodes with their ids, the title and the URL."""

    url: str
    title: str
    nodes: list[tuple[int, Node]]
    root_id: int


class Browser:
    """Tabs over one world. Every method that changes something returns a short note of what
    happened (for logs); errors are :class:`ActionError`."""

    def __init__(self, world: World, start_url: str):
        self.world = world
        self.tabs = [Tab([start_url])]
        self.active = 0
        self._page: RenderedPage | None = None

    # ------------------------------------------------------------------ what the agent sees
    @property
    def tab(self) -> Tab:
        return self.tabs[self.active]

    @property
    def url(self) -> str:
        return self.tab.url

    def page(self) -> RenderedPage:
        if self._page is None:
            self._page = self._render(self.tab)
        return self._page

    def _render(self, tab: Tab) -> RenderedPage:
        if tab.url == BLANK:
            return RenderedPage(BLANK, "", [], 1)
        try:
            page = render_page(self.world, tab.url, tab.message)
        except NotFound:
            page = not_found_page()
        # Ids fixed by the URL: the same page keeps its ids, other pages get other ones.
        base = 100 * (zlib.crc32(tab.url.encode()) % 90 + 10)
        return RenderedPage(tab.url, page.title, [(base + 1 + i, n) for i, n in enumerate(page.nodes)], base)

    def visible(self) -> list[tuple[int, Node]]:
        nodes = self.page().nodes
        return nodes[self.tab.scroll : self.tab.scroll + VIEWPORT_NODES]

    def tree(self) -> str:
        """The accessibility tree of the viewport, as WebArena prints it."""
        page = self.page()
        lines = [f"[{page.root_id}] RootWebArea '{page.title}' focused: True"]
        for node_id, node in self.visible():
            lines.append("\t" * node.depth + self._node_line(node_id, node))
        hidden = len(page.nodes) - self.tab.scroll - VIEWPORT_NODES
        if hidden > 0:
            lines.append(f"\t(scroll down for {hidden} more elements)")
        return "\n".join(lines)

    def _node_line(self, node_id: int, node: Node) -> str:
        line = f"[{node_id}] {node.role} {quote(node.name)}"
        if node.field is not None:
            value = self.tab.form.get(node.field, "")
            if value:
                line += f" value: {quote(value)}"
            if node.required:
                line += " required: True"
        return line

    def tabs_line(self) -> str:
        titles = []
        for index, tab in enumerate(self.tabs):
            title = self.page().title if index == self.active else self._render(tab).title
            current = " (current)" if index == self.active else ""
            titles.append(f"Tab {index}{current}: {title}")
        return "\t\t".join(titles)

    # ------------------------------------------------------------------ actions
    def element(self, node_id: int | None) -> Node:
        for shown_id, node in self.visible():
            if shown_id == node_id:
                return node
        if any(shown_id == node_id for shown_id, _ in self.page().nodes):
            raise ActionError(f"element [{node_id}] is not in view: scroll to it first.")
        raise ActionError(f"there is no element with id [{node_id}] on this page.")

    def act(self, action: Action) -> str:
        handler = getattr(self, f"_do_{action.kind}")
        return handler(action)

    def _do_click(self, action: Action) -> str:
        node = self.element(action.element)
        if node.href is not None:
            self.navigate(node.href)
            return f"clicked the link '{node.name}'"
        if node.op is not None and node.role == "button":
            self._submit(node.op)
            return f"clicked the button '{node.name}'"
        return f"clicked '{node.name}' (nothing happens)"

    def _do_hover(self, action: Action) -> str:
        node = self.element(action.element)
        return f"hovered over '{node.name}'"

    def _do_type(self, action: Action) -> str:
        node = self.element(action.element)
        if node.field is None:
            raise ActionError(
                f"[{action.element}] is a {node.role}, not a text field: you cannot type into it."
            )
        # As in WebArena (Playwright's keyboard.type), typing adds to what the field holds.
        self.tab.form[node.field] = self.tab.form.get(node.field, "") + action.argument
        self.tab.focus = node
        self._page = None
        if action.press_enter and node.role == "searchbox" and node.op:
            self._submit(node.op)
        return f"typed into '{node.name}'"

    def _do_press(self, action: Action) -> str:
        key = action.argument.lower().replace("meta+", "").replace("control+", "")
        if key in ("pagedown", "space"):
            return self._scroll(+1)
        if key == "pageup":
            return self._scroll(-1)
        if key == "alt+arrowleft":
            return self._do_go_back(action)
        if key == "enter" and self.tab.focus is not None and self.tab.focus.op:
            self._submit(self.tab.focus.op)  # Enter in a focused search box searches
            return "pressed Enter"
        if not action.argument:
            raise ActionError("press needs a key, as in press [Enter].")
        return f"pressed {action.argument} (nothing happens)"

    def _do_scroll(self, action: Action) -> str:
        direction = action.argument.lower().removeprefix("direction=")
        if direction not in ("up", "down"):
            raise ActionError(f"scroll goes 'up' or 'down', not '{action.argument[:40]}'.")
        return self._scroll(+1 if direction == "down" else -1)

    def _scroll(self, sign: int) -> str:
        last = max(0, len(self.page().nodes) - VIEWPORT_NODES)
        self.tab.scroll = min(last, max(0, self.tab.scroll + sign * SCROLL_NODES))
        return "scrolled"

    def _do_new_tab(self, action: Action) -> str:
        self.tabs.append(Tab([BLANK]))
        self.active = len(self.tabs) - 1
        self._page = None
        return "opened a new tab"

    def _do_tab_focus(self, action: Action) -> str:
        if not is_number(action.argument) or int(action.argument) >= len(self.tabs):
            raise ActionError(f"there is no tab {action.argument[:20]!r}; tabs are 0..{len(self.tabs) - 1}.")
        self.active = int(action.argument)
        self._page = None
        return f"switched to tab {self.active}"

    def _do_close_tab(self, action: Action) -> str:
        if len(self.tabs) == 1:
            raise ActionError("this is the only tab: it cannot be closed.")
        del self.tabs[self.active]
        self.active = max(0, self.active - 1)
        self._page = None
        return "closed the tab"

    def _do_goto(self, action: Action) -> str:
        url = action.argument
        if not url.startswith("http"):
            url = "http://" + url
        problem = url_problem(url)
        if problem:
            raise ActionError(f"'{action.argument[:80]}' is not a valid URL ({problem}).")
        if site_of(url) is None:
            raise ActionError(f"'{action.argument[:80]}' is not on one of the sites this browser can reach.")
        self.navigate(url)
        return f"went to {url}"

    def _do_go_back(self, action: Action) -> str:
        if self.tab.position == 0:
            raise ActionError("there is no previous page in this tab.")
        self.tab.position -= 1
        self._fresh_page()
        return "went back"

    def _do_go_forward(self, action: Action) -> str:
        if self.tab.position == len(self.tab.history) - 1:
            raise ActionError("there is no next page in this tab.")
        self.tab.position += 1
        self._fresh_page()
        return "went forward"

    # ------------------------------------------------------------------ helpers
    def navigate(self, url: str) -> None:
        tab = self.tab
        del tab.history[tab.position + 1 :]
        tab.history.append(url)
        tab.position += 1
        self._fresh_page()

    def _fresh_page(self) -> None:
        self.tab.scroll, self.tab.form, self.tab.message, self.tab.focus = 0, {}, "", None
        self._page = None

    def _submit(self, op: str) -> None:
        url, message = perform(self.world, op, self.tab.form)
        if url is not None:
            self.navigate(url)
        else:  # the site re-renders the page with its message; the form is cleared as on a reload
            self.tab.form, self.tab.focus = {}, None
        self.tab.message = message
        self._page = None


def quote(value: str) -> str:
    """A name as the tree prints it: in single quotes, on one line."""
    return "'" + " ".join(value.split()) + "'"
