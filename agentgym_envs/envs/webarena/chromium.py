"""WebArena's browser backend: Chromium driven by Playwright, read as WebArena reads a page.

Three parts:

* :func:`find_chromium` and :class:`ChromiumEngine`: one headless Chromium per process, shared by
  the process's envs (a browser context each), started on first use, closed when the last env
  closes or the interpreter exits. Playwright's sync API is bound to the thread that started it
  and refuses to run inside a running asyncio loop, while the env server and Ray call envs from
  any thread; so every Playwright call runs on one thread of our own, in its own event loop,
  and envs hand it coroutines (:meth:`ChromiumEngine.run`). A Chromium that dies (killed,
  crashed, hung past a timeout) is :class:`BrowserLost`; the next episode starts a new one.
* :func:`read_accessibility_tree`: the page as WebArena's ``TextObervationProcessor`` prints it
  (``observation_type="accessibility_tree"``, ``current_viewport_only=True``): CDP's full
  accessibility tree, each node's ``getBoundingClientRect`` (a text node's through a Range), nodes
  that are not at least 60% in the 1280x720 viewport (by WebArena's own ratio formula) lifted
  out, one ``[id] role 'name' props`` line per remaining node that says something, and WebArena's
  cleaning of repeated static text. On a user's own sites the ids are Chromium's backend DOM
  node ids, as in WebArena (a DOM snapshot is captured first, as WebArena does); on the generated
  sites they are renumbered by the node's place in the page (:func:`page_ids`), because Chromium's
  numbering varies from run to run and an episode must read the same every time. WebArena asks
  for the bounds node by node (two CDP calls each); here one script measures every node that the
  page's snapshot lets us find, and only the rest (inside shadow trees,
  frames) go node by node: the same numbers, about ten times faster.
* :class:`ChromiumBrowser`: one env's context: its tabs, the last observation, WebArena's
  id-based actions carried out in the page as WebArena's ``execute_action`` does (the element's
  centre from its bounds, mouse clicks and hovers, typed keys, a window height per scroll).
  Requests go only to the sites it is given. The browser talks to the sites' live servers
  (``http://127.0.0.1:<port>``); what the agent reads has the canonical WebArena addresses
  instead (``http://localhost:7770``), and a canonical address it asks for leads to the live
  one, so an episode reads the same on every run. Model text reaches Chromium only as typed keys
  or as a URL on one of those sites, never as script.
"""

from __future__ import annotations

import ast
import asyncio
import atexit
import concurrent.futures
import itertools
import os
import re
import shutil
import signal
import threading
import time
import weakref
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from agentgym_envs.envs.engine_users import SharedByEnvs
from agentgym_envs.envs.webarena.browser import Action, ActionError
from agentgym_envs.envs.webarena.pages import url_problem

T = TypeVar("T")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = "apt-get install chromium"
VIEWPORT = {"width": 1280, "height": 720}  # WebArena's default viewport
CALL_TIMEOUT_S = 90.0  # one env call (an action and its observation); longer means Chromium hangs
NAVIGATION_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
BLANK = "about:blank"

# WebArena's constants (browser_env/constants.py, processors.py).
IN_VIEWPORT_RATIO_THRESHOLD = 0.6
IGNORED_PROPERTIES = ("focusable", "editable", "readonly", "level", "settable", "multiline", "invalid")
# Roles whose nodes are left out when they have no name and no shown property.
EMPTY_ROLES = (
    "generic", "img", "list", "strong", "paragraph", "banner", "navigation", "Section", "LabelText",
    "Legend", "listitem",
)  # fmt: skip
ROOT_BOUNDS = (0.0, 0.0, 10.0, 10.0)  # WebArena counts the root as always in view
TYPEABLE_ROLES = ("combobox", "spinbutton")  # besides any node Chromium marks editable


class ChromiumNotFound(RuntimeError):
    """No Chromium to run; the message says how to install one."""


class BrowserLost(RuntimeError):
    """The browser process is gone (killed, crashed or hung): the episode on it is lost."""


def find_chromium(path: str | None = None) -> str:
    """The Chromium to run: ``path``, else ``$AGENTGYM_CHROMIUM``, else the first of
    chromium, chromium-browser, google-chrome on PATH. Raises :class:`ChromiumNotFound`."""
    given = path or os.environ.get("AGENTGYM_CHROMIUM")
    if given:
        found = shutil.which(given)
        if found is None:
            raise ChromiumNotFound(
                f"the Chromium {given!r} is not an executable program: give the path of one, or "
                f"install it with `{INSTALL_HINT}`"
            )
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise ChromiumNotFound(
        "WebArena's browser backend needs the program 'chromium' on PATH (none of "
        f"{', '.join(CHROMIUM_NAMES)} is): install it with `{INSTALL_HINT}`, or pass "
        "chromium_path= or set AGENTGYM_CHROMIUM"
    )


# ------------------------------------------------------------------------------ the engine
class ChromiumEngine(SharedByEnvs):
    """One Chromium for the process, and the thread that runs every Playwright call.

    Envs count as users (:meth:`acquire`, :meth:`release`, or when they are garbage collected);
    the browser closes when the last one goes and at interpreter exit. ``generation`` changes at
    every launch, so an env can tell that its context belonged to a browser that is gone."""

    stop_inside_lock = False  # stop() waits on the browser thread, which takes the lock

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._executable: str | None = None
        self._users: set[int] = set()
        self._launches = itertools.count(1)
        self._launching: asyncio.Lock | None = None  # made on the engine's thread, in its loop
        self.generation = 0
        self.pid: int | None = None  # the browser's main process
        _ENGINES.add(self)

    # ------------------------------------------------------------------ the thread
    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="agentgym-chromium", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def on_engine_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = CALL_TIMEOUT_S) -> T:
        """Run the coroutine ``make()`` on the engine's thread and wait for its result (from
        any thread, also inside a running asyncio loop). A browser that does not answer within
        ``timeout`` is stopped and reported as :class:`BrowserLost`."""
        if self.on_engine_thread():
            raise RuntimeError("ChromiumEngine.run was called from its own thread")
        future = asyncio.run_coroutine_threadsafe(_call(make), self._event_loop())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            self.stop()
            raise BrowserLost(f"Chromium did not answer within {timeout:.0f} s and was stopped") from None

    def submit(self, make: Callable[[], Awaitable[Any]]) -> None:
        """Start ``make()`` on the engine's thread without waiting (safe from any thread,
        the engine's own included: used by finalizers)."""
        loop = self._loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(_call(make), loop)

    # ------------------------------------------------------------------ the browser
    @property
    def running(self) -> bool:
        browser = self._browser
        return browser is not None and browser.is_connected()

    def _launch_lock(self) -> asyncio.Lock:
        """One launch or close at a time: envs that reset together must share one browser."""
        if self._launching is None:
            self._launching = asyncio.Lock()
        return self._launching

    async def browser(self, executable: str) -> Any:
        """The running browser (on the engine's thread), launched now if there is none."""
        async with self._launch_lock():
            if self._browser is not None and self._browser.is_connected() and executable == self._executable:
                return self._browser
            await self._close_now()
            return await self._launch(executable)

    async def _launch(self, executable: str) -> Any:
        from playwright.async_api import async_playwright

        if self._playwright is None:
            self._playwright = await async_playwright().start()
        # A switch Chromium ignores, so that our processes can be told from any other Chromium.
        marker = f"--agentgym-webarena={os.getpid()}.{next(self._launches)}"
        self._browser = await self._playwright.chromium.launch(
            executable_path=executable, headless=True, args=[marker]
        )
        self._executable = executable
        self.generation += 1
        self.pid = next((pid for pid in _all_pids() if marker.encode() in _cmdline(pid)), None)
        return self._browser

    async def _close(self) -> None:
        async with self._launch_lock():
            await self._close_now()

    async def _close_now(self) -> None:
        browser, playwright, pid = self._browser, self._playwright, self.pid
        self._browser = self._playwright = self.pid = None
        family = process_tree(pid)
        for closing in (browser.close() if browser else None, playwright.stop() if playwright else None):
            if closing is not None:
                try:
                    await asyncio.wait_for(closing, STOP_TIMEOUT_S)
                except Exception:  # noqa: BLE001  (a dead browser or driver cannot answer)
                    pass
        _kill(family)  # whatever did not exit with the browser (a hung or orphaned process)

    def stop(self) -> None:
        """Close the browser (harmless when it is not running); the thread stays for reuse."""
        with self._lock:
            loop = self._loop
        if loop is None or not loop.is_running():
            return
        if self.on_engine_thread():
            loop.create_task(self._close())
            return
        future = asyncio.run_coroutine_threadsafe(self._close(), loop)
        try:
            future.result(STOP_TIMEOUT_S * 3)
        except Exception:  # noqa: BLE001
            _kill(process_tree(self.pid) if self.pid else [])


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


_ENGINES: weakref.WeakSet[ChromiumEngine] = weakref.WeakSet()
ENGINE = ChromiumEngine()


@atexit.register
def _stop_all() -> None:
    for engine in list(_ENGINES):
        engine.stop()


def _forget_parents_browser() -> None:
    """In a forked child: the parent's browser and thread are the parent's (the thread does not
    exist here). The child forgets them and starts its own on first use."""
    for engine in list(_ENGINES):
        engine._lock = threading.RLock()
        engine._loop = engine._thread = engine._playwright = engine._browser = engine.pid = None
        engine._launching = None
        engine._users = set()
        engine.generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_browser)


# ------------------------------------------------------------------------------ processes
def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()] if os.path.isdir("/proc") else []


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def process_tree(pid: int | None) -> list[int]:
    """``pid`` and its living descendants (a browser's zygotes, renderers, GPU process)."""
    if pid is None:
        return []
    parents = {p: _stat(p)[1] for p in _all_pids()}
    family, frontier = [], [pid] if pid in parents else []
    while frontier:
        current = frontier.pop()
        family.append(current)
        frontier += [child for child, parent in parents.items() if parent == current]
    return family


def _stat(pid: int) -> tuple[bytes, int | None, int | None]:
    """A process's state letter, parent and start time (b"", None, None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return b"", None, None
    fields = stat[stat.rfind(b")") + 2 :].split()  # after the command name, which may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def _kill(pids: Iterable[int]) -> None:
    """SIGKILL each of ``pids`` that is still the process it was (its start time unchanged: a
    number the system has given to a new process is left alone)."""
    started = {pid: _stat(pid)[2] for pid in pids}
    for pid, start in started.items():
        if start is not None and _stat(pid)[0] not in (b"", b"Z") and _stat(pid)[2] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# ------------------------------------------------------------------------------ the tree
# A node's box as WebArena's get_bounding_client_rect measures it (a text node through a Range).
_RECT = """(node) => {
  if (node.nodeType == 3) {
    const range = document.createRange();
    range.selectNode(node);
    const box = range.getBoundingClientRect().toJSON();
    range.detach();
    return box;
  }
  return node.getBoundingClientRect().toJSON();
}"""
# Every node asked for, in one call; it first checks that the page's nodes are the ones the
# snapshot listed: `names` holds the expected nodeName at each position of a pre-order walk of
# the document's own (light) tree.
_MEASURE_SCRIPT = (
    """({positions, names, count}) => {
  const nodes = [];
  const walk = (node) => { nodes.push(node); for (const child of node.childNodes) walk(child); };
  walk(document);
  const rect = """
    + _RECT
    + """;
  const same = nodes.length == count && positions.every((p, k) => nodes[p].nodeName == names[k]);
  const measure = (p) => { try { return rect(nodes[p]); } catch (e) { return null; } };
  const rects = same ? positions.map(measure) : null;
  const page = document.scrollingElement || document.body;
  const more = page ? page.scrollTop + window.innerHeight < page.scrollHeight - 1 : false;
  return {rects, screen: [window.screen.width, window.screen.height], url: location.href, more};
}"""
)
_MEASURE_ONE = f"function () {{ return ({_RECT})(this); }}"  # one node, over CDP
_SNAPSHOT = {"computedStyles": [], "includeDOMRects": True, "includePaintOrder": True}


@dataclass(frozen=True)
class ShownNode:
    """A node of the observation: what the env needs to act on it."""

    backend_id: int
    bounds: tuple[float, float, float, float]  # x, y, width, height in the viewport, as observed
    role: str
    editable: bool

    @property
    def centre(self) -> tuple[float, float]:
        x, y, width, height = self.bounds
        return x + width / 2, y + height / 2


@dataclass
class TreeView:
    """One observation of a page: the tree text, the nodes it shows, and every node id that
    would be shown were it in view (to tell "not in view" from "no such element")."""

    text: str
    shown: dict[str, ShownNode] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)
    url: str = BLANK
    more_below: bool = False  # the page goes on below the viewport
    ids: dict[str, int] = field(default_factory=dict)  # Chromium's node id -> the id shown


@dataclass(frozen=True)
class TreeLine:
    """One line of a tree as WebArena prints it."""

    depth: int
    node_id: int
    role: str
    name: str


_TREE_LINE = re.compile(r"""^(\t*)\[(\d+)\] (\S+) ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def parse_tree(text: str) -> list[TreeLine]:
    """The lines of a tree text (names are Python string literals, as WebArena writes them)."""
    lines = []
    for line in text.split("\n"):
        match = _TREE_LINE.match(line)
        if match:
            tabs, node_id, role, name = match.groups()
            lines.append(TreeLine(len(tabs), int(node_id), role, ast.literal_eval(name)))
    return lines


def node_line(node: dict[str, Any], shown_id: int | str | None = None) -> str | None:
    """WebArena's line for an accessibility node (``[id] role 'name' props``; the id is the
    node's own unless ``shown_id`` is given), or None for a node it leaves out (no role or name;
    an empty name with nothing to show)."""
    try:
        role, name = node["role"]["value"], node["name"]["value"]
    except (KeyError, TypeError):
        return None
    if not isinstance(name, str) or not isinstance(role, str):
        return None
    properties = []
    for prop in node.get("properties", []):
        if prop.get("name") in IGNORED_PROPERTIES:
            continue
        try:
            properties.append(f"{prop['name']}: {prop['value']['value']}")
        except (KeyError, TypeError):
            pass
    if not name.strip() and (role == "listitem" or (not properties and role in EMPTY_ROLES)):
        return None
    line = f"[{node['nodeId'] if shown_id is None else shown_id}] {role} {name!r}"
    return f"{line} {' '.join(properties)}" if properties else line


def viewport_ratio(bounds: tuple[float, ...], screen: tuple[float, float]) -> float:
    """WebArena's in-viewport measure, formula and all: ``overlap_w * overlap_h / w * h`` (its
    operator precedence multiplies by the height rather than dividing by the area)."""
    x, y, width, height = (float(v) for v in bounds)
    overlap_width = max(0.0, min(x + width, screen[0]) - max(x, 0))
    overlap_height = max(0.0, min(y + height, screen[1]) - max(y, 0))
    return overlap_width * overlap_height / width * height


def in_view(bounds: tuple[float, ...] | None, screen: tuple[float, float]) -> bool:
    if not bounds or bounds[2] == 0 or bounds[3] == 0:
        return False
    return viewport_ratio(bounds, screen) >= IN_VIEWPORT_RATIO_THRESHOLD


def unique_nodes(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tree's nodes with repeats dropped (CDP lists a few nodes twice), first one kept."""
    seen: set[str] = set()
    kept = []
    for node in nodes:
        if node["nodeId"] not in seen:
            seen.add(node["nodeId"])
            kept.append(node)
    return kept


def render_tree(
    nodes: list[dict[str, Any]],
    bounds: Mapping[int, tuple[float, ...] | None],
    screen: tuple[float, float],
    ids: Mapping[str, int] | None = None,
) -> TreeView:
    """The viewport's tree text from the unique accessibility nodes (root first) and each
    node's bounds by backend id. A node outside the viewport is lifted out of the tree, its
    children taking its place (WebArena's ``remove_node_in_graph``); a node without a line adds
    no depth to its children. ``ids``: the id to show for each node id (else its own)."""
    if not nodes:
        return TreeView("")
    by_id = {node["nodeId"]: node for node in nodes}
    view = TreeView("", ids=dict(ids or {}))
    lines: list[str] = []

    def box_of(node: dict[str, Any]) -> tuple[float, ...] | None:
        if "backendDOMNodeId" not in node:
            return None
        if node.get("role", {}).get("value") == "RootWebArea":
            return ROOT_BOUNDS
        return bounds.get(node["backendDOMNodeId"])

    def visit(node: dict[str, Any], depth: int) -> None:
        shown_id = view.ids.get(node["nodeId"], node["nodeId"])
        line = node_line(node, shown_id)
        shown = False
        if line is not None:
            box = box_of(node)
            if in_view(box, screen):
                shown = True
                lines.append("\t" * depth + line)
                view.shown[str(shown_id)] = ShownNode(
                    node["backendDOMNodeId"],
                    tuple(float(v) for v in box),
                    node["role"]["value"],
                    _is_editable(node),
                )
            elif "backendDOMNodeId" in node:
                view.hidden.add(str(shown_id))
        for child in node.get("childIds", []):
            if child in by_id:
                visit(by_id[child], depth + 1 if shown else depth)

    visit(nodes[0], 0)
    view.text = clean_tree("\n".join(lines))
    return view


def _is_editable(node: dict[str, Any]) -> bool:
    if node["role"]["value"] in TYPEABLE_ROLES:
        return True
    return any(p.get("name") == "editable" for p in node.get("properties", []))


_STATIC_TEXT = re.compile(r"\[\d+\] StaticText (.+)", re.DOTALL)


def clean_tree(text: str) -> str:
    """WebArena's ``clean_accesibility_tree``: a StaticText line whose text already appears in
    one of the three lines kept before it is dropped (so is an empty one)."""
    kept: list[str] = []
    for line in text.split("\n"):
        if "statictext" not in line.lower():
            kept.append(line)
            continue
        match = _STATIC_TEXT.search(line)
        said = match.group(1)[1:-1] if match else ""  # the text without its quotes
        if said and all(said not in previous for previous in kept[-3:]):
            kept.append(line)
    return "\n".join(kept)


async def read_accessibility_tree(
    page: Any, client: Any, canonical: Callable[[str], str] | None = None
) -> TreeView:
    """The current viewport's tree of ``page`` (a Playwright async page and its CDP session),
    its nodes numbered by :func:`page_ids` (given ``canonical``, which writes the page's URL as
    the agent sees it), else by Chromium's own ids as in WebArena."""
    snapshot = await client.send("DOMSnapshot.captureSnapshot", _SNAPSHOT)  # WebArena's id order
    nodes = unique_nodes((await client.send("Accessibility.getFullAXTree", {}))["nodes"])
    wanted = [
        node["backendDOMNodeId"]
        for node in nodes
        if "backendDOMNodeId" in node and node["role"]["value"] != "RootWebArea" and node_line(node)
    ]
    bounds, screen, page_facts = await _measure(page, client, snapshot, wanted)
    url = canonical(page_facts["url"]) if canonical else page_facts["url"]
    view = render_tree(nodes, bounds, screen, page_ids(snapshot, nodes, url) if canonical else None)
    view.url, view.more_below = url, bool(page_facts["more"])
    return view


def page_ids(snapshot: dict[str, Any], nodes: list[dict[str, Any]], url: str) -> dict[str, int]:
    """The ids the agent sees, by Chromium's node id: the node's place in the page's DOM (the
    snapshot's document order; nodes the snapshot leaves out, such as a text field's inner text,
    after them in tree order), from a base fixed by the URL.

    Chromium numbers nodes as it meets them, and some it meets during page load (autofill, the
    accessibility cache), at moments that vary from run to run; so the ids WebArena shows differ
    between runs of the same episode. Numbered by place, the same page shows the same ids every
    time (and pages at other URLs show others, as in the text backend). The text is otherwise
    WebArena's, line for line."""
    base = 1000 * (zlib.crc32(url.encode()) % 90 + 10)
    place: dict[int, int] = {}
    for document in snapshot["documents"]:
        for backend_id in document["nodes"]["backendNodeId"]:
            place.setdefault(backend_id, len(place))
    ids = {}
    for node in nodes:
        backend_id = node.get("backendDOMNodeId")
        if backend_id is not None:
            ids[node["nodeId"]] = base + place.setdefault(backend_id, len(place))
    return ids


async def _measure(
    page: Any, client: Any, snapshot: dict[str, Any], backend_ids: list[int]
) -> tuple[dict[int, tuple[float, ...] | None], tuple[float, float], dict[str, Any]]:
    """Each node's getBoundingClientRect, by backend id: in one script for the nodes of the
    document's own tree, one by one over CDP for the rest. Also the screen's size, and the
    page's URL and whether it goes on below the viewport."""
    order, names = light_tree_order(snapshot)
    here = [b for b in backend_ids if b in order]
    result = await page.evaluate(
        _MEASURE_SCRIPT,
        {
            "positions": [order[b] for b in here],
            "names": [names[order[b]] for b in here],
            "count": len(names),
        },
    )
    screen = (float(result["screen"][0]), float(result["screen"][1]))
    bounds: dict[int, tuple[float, ...] | None] = {}
    if result["rects"] is not None:
        bounds.update({b: _box(rect) for b, rect in zip(here, result["rects"])})
    rest = [b for b in backend_ids if b not in bounds]
    if rest:
        measured = await asyncio.gather(*(_measure_one(client, b) for b in rest))
        bounds.update(zip(rest, measured))
        await client.send("Runtime.releaseObjectGroup", {"objectGroup": "agentgym-bounds"})
    return bounds, screen, result


async def _measure_one(client: Any, backend_id: int) -> tuple[float, ...] | None:
    try:
        node = await client.send(
            "DOM.resolveNode", {"backendNodeId": backend_id, "objectGroup": "agentgym-bounds"}
        )
        reply = await client.send(
            "Runtime.callFunctionOn",
            {
                "objectId": node["object"]["objectId"],
                "functionDeclaration": _MEASURE_ONE,
                "returnByValue": True,
            },
        )
    except Exception:  # noqa: BLE001  (WebArena: a node that cannot be measured has no bounds)
        return None
    if reply.get("result", {}).get("subtype") == "error" or "exceptionDetails" in reply:
        return None
    return _box(reply["result"].get("value"))


def _box(rect: dict[str, float] | None) -> tuple[float, ...] | None:
    if not rect:
        return None
    return (rect["x"], rect["y"], rect["width"], rect["height"])


def light_tree_order(snapshot: dict[str, Any]) -> tuple[dict[int, int], list[str]]:
    """From a DOM snapshot: each node of the main document's own tree (no shadow tree, no
    pseudo-element) by backend id -> its position in a pre-order walk, and the node names in
    that order. The snapshot lists nodes in that order, with shadow and pseudo nodes between."""
    strings, document = snapshot["strings"], snapshot["documents"][0]
    nodes = document["nodes"]
    skipped = set(nodes.get("shadowRootType", {}).get("index", ()))
    skipped |= set(nodes.get("pseudoType", {}).get("index", ()))
    parents = nodes["parentIndex"]
    order: dict[int, int] = {}
    names: list[str] = []
    outside: set[int] = set()  # snapshot indices of skipped nodes and everything under them
    for index, backend_id in enumerate(nodes["backendNodeId"]):
        if index in skipped or parents[index] in outside:
            outside.add(index)
            continue
        order[backend_id] = len(names)
        names.append(strings[nodes["nodeName"][index]])
    return order, names


# ------------------------------------------------------------------------------ one env's browser
class ChromiumBrowser:
    """One env's browser context over the sites in ``origins`` (canonical origin -> the live
    origin that serves it; the same when the browser can reach the canonical one itself).

    The same face as the text backend's :class:`~browser.Browser`: ``url``, ``tabs_line()``,
    ``tree()`` and ``act(action)``, which raises :class:`ActionError` for an action that cannot
    be done and :class:`BrowserLost` when the browser is gone."""

    def __init__(
        self,
        origins: Mapping[str, str],
        chromium_path: str | None = None,
        engine: ChromiumEngine = ENGINE,
        resources_anywhere: bool = False,
    ):
        self.executable = find_chromium(chromium_path)
        self.engine = engine
        self.origins = dict(origins)
        self.resources_anywhere = resources_anywhere
        self._canonical_of = {
            live: canonical for canonical, live in self.origins.items() if live != canonical
        }
        # A live origin, not followed by another digit of a longer port.
        self._live_pattern = (
            re.compile(
                "|".join(re.escape(live) + r"(?!\d)" for live in sorted(self._canonical_of, key=len)[::-1])
            )
            if self._canonical_of
            else None
        )
        self._context: Any = None
        self._generation = -1
        self._tabs: list[_Tab] = []
        self.active = 0
        self.view = TreeView("")
        self.tab_titles: list[str] = []
        # The context, also where a finalizer can reach it without keeping this object alive.
        self._holder: list[Any] = [None]
        weakref.finalize(self, _drop_context, engine, self._holder)

    # ------------------------------------------------------------------ what the agent sees
    @property
    def url(self) -> str:
        return self.view.url

    def tree(self) -> str:
        return self.view.text

    def tabs_line(self) -> str:
        """WebArena's tab line: ``Tab 0 (current): title | Tab 1: title``."""
        return " | ".join(
            f"Tab {k} (current): {title}" if k == self.active else f"Tab {k}: {title}"
            for k, title in enumerate(self.tab_titles)
        )

    # ------------------------------------------------------------------ life
    def open(self, start_url: str, storage_state: str | None = None, geolocation: dict | None = None) -> None:
        """A fresh context (the cookies, history and tabs of an earlier episode gone) with a tab
        per start URL (WebArena joins several with ``|AND|``), the first in front; it starts from
        ``storage_state`` (a Playwright state file: WebArena's login cookies) and ``geolocation``
        when given, as WebArena's env makes its context."""
        self.engine.acquire(self)
        self._run(lambda: self._open(start_url, storage_state, geolocation), fresh=True)

    def run_with_browser(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """``work(browser)`` on the engine's thread with the process's Playwright Browser (launched
        if need be): auto_login signs in within a context of its own there."""
        self.engine.acquire(self)

        async def call() -> T:
            return await work(await self.engine.browser(self.executable))

        return self.engine.run(call)

    async def _open(self, start_url: str, storage_state: str | None, geolocation: dict | None) -> None:
        await self._close_context()
        browser = await self.engine.browser(self.executable)
        self._generation = self.engine.generation
        context = await browser.new_context(
            viewport=VIEWPORT, device_scale_factor=1, storage_state=storage_state, geolocation=geolocation
        )
        self._context = self._holder[0] = context
        context.set_default_timeout(NAVIGATION_TIMEOUT_S * 1000)
        await context.route("**/*", self._route)
        for url in start_url.split(" |AND| "):
            tab = await self._new_tab()
            await self._goto(tab.page, self.live(url.strip()))
            await tab.start_history_here()
        self.active = 0
        await self._tabs[0].page.bring_to_front()
        await self._observe()

    def close(self) -> None:
        """Close this env's context; the browser closes when no env uses it."""
        if self._context is not None and self.engine.running and self._generation == self.engine.generation:
            try:
                self.engine.run(self._close_context, timeout=STOP_TIMEOUT_S * 2)
            except BrowserLost:
                pass
        self._context = self._holder[0] = None
        self.engine.release(self)

    async def _close_context(self) -> None:
        context, self._context, self._tabs = self._context, None, []
        if context is not None:
            try:
                await context.close()
            except Exception:  # noqa: BLE001  (its browser may be gone)
                pass

    # ------------------------------------------------------------------ calls into the engine
    def _run(self, make: Callable[[], Awaitable[T]], fresh: bool = False) -> T:
        """Run ``make()`` on the engine's thread. Unless ``fresh`` (a new context is being
        made), the context must live in the running browser; Playwright errors once the browser
        has died become :class:`BrowserLost`."""
        try:
            return self.engine.run(lambda: self._guarded(make, fresh))
        except BrowserLost:
            self._context = self._holder[0] = None
            raise

    async def _guarded(self, make: Callable[[], Awaitable[T]], fresh: bool) -> T:
        from playwright.async_api import Error as PlaywrightError

        if not fresh and not self._alive():
            raise BrowserLost("the browser this episode ran in has stopped")
        try:
            return await make()
        except PlaywrightError as error:
            if fresh or self._alive():
                raise
            await self.engine._close()  # the dead browser's driver and leftover processes
            raise BrowserLost(f"the browser stopped ({_first_line(error)})") from error

    def _alive(self) -> bool:
        return (
            self._context is not None and self.engine.running and self._generation == self.engine.generation
        )

    # ------------------------------------------------------------------ tabs
    async def _new_tab(self) -> _Tab:
        page = await self._context.new_page()
        return await self._track(page)

    async def _track(self, page: Any) -> _Tab:
        """A tab with its own CDP session: the accessibility domain on, as WebArena's env has
        it, and the page domain's events that tell when an input starts a navigation."""
        client = await page.context.new_cdp_session(page)
        await client.send("Accessibility.enable")
        await client.send("Page.enable")
        frames = await client.send("Page.getFrameTree")
        tab = _Tab(page, client, frames["frameTree"]["frame"]["id"])
        client.on("Page.frameRequestedNavigation", tab.navigation_requested)
        client.on("Page.frameStoppedLoading", tab.stopped_loading)
        self._tabs.append(tab)
        return tab

    async def _sync_tabs(self) -> None:
        """Tabs as the context has them: closed ones gone, ones a page opened itself added (in
        the context's order, which is WebArena's tab order)."""
        current = self._tabs[self.active] if self.active < len(self._tabs) else None
        self._tabs = [tab for tab in self._tabs if not tab.page.is_closed()]
        known = {id(tab.page) for tab in self._tabs}
        for page in self._context.pages:
            if id(page) not in known:
                await self._track(page)
        order = {id(page): k for k, page in enumerate(self._context.pages)}
        self._tabs.sort(key=lambda tab: order.get(id(tab.page), len(order)))
        if not self._tabs:  # every tab closed: WebArena opens a blank one
            await self._new_tab()
        self.active = self._tabs.index(current) if current in self._tabs else len(self._tabs) - 1

    async def _observe(self) -> None:
        await self._sync_tabs()
        tab = self._tabs[self.active]
        self.tab_titles = [await t.page.title() for t in self._tabs]
        for attempt in range(3):
            try:
                view = await read_accessibility_tree(tab.page, tab.client, self.canonical)
                break
            except Exception:  # a document replaced while it was read: read the new one
                if attempt == 2 or not self.engine.running:
                    raise
                await tab.page.wait_for_load_state("load")
        view.text = self.canonical(view.text)
        self.view = view

    # ------------------------------------------------------------------ addresses
    def canonical(self, text: str) -> str:
        """``text`` (a URL, a tree) with every live origin written as the canonical site it
        serves, so that an episode reads the same whatever ports the servers got."""
        if self._live_pattern is None:
            return text
        return self._live_pattern.sub(lambda match: self._canonical_of[match.group(0)], text)

    def live(self, url: str) -> str:
        """``url`` on a canonical site, as the browser reaches it."""
        for canonical, live in self.origins.items():
            if url == canonical or url.startswith((canonical + "/", canonical + "?", canonical + "#")):
                return live + url[len(canonical) :]
        return url

    def reachable(self, url: str) -> bool:
        """On one of the sites (by its canonical or its live origin), without credentials."""
        if url_problem(url):
            return False
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        on_site = origin in self.origins or origin in self._canonical_of
        return on_site and not parts.username and not parts.password

    async def _route(self, route: Any) -> None:
        """Every request of the context: to one of the sites' live origins it goes on; a page's
        own resources (images, map tiles, scripts) from elsewhere only with
        ``resources_anywhere`` (a user's real sites may need them; the generated ones need
        nothing else); anything else, and every navigation away from the sites, is refused."""
        request = route.request
        try:
            on_site = self.reachable(request.url) and request.url == self.live(request.url)
            if on_site or (self.resources_anywhere and not request.is_navigation_request()):
                await route.continue_()
            else:
                await route.abort("blockedbyclient")
        except Exception:  # noqa: BLE001  (the page closed meanwhile)
            pass

    async def _goto(self, page: Any, url: str) -> None:
        from playwright.async_api import Error as PlaywrightError

        try:
            await page.goto(url, wait_until="load")
        except PlaywrightError as error:
            if not self.engine.running:
                raise
            raise ActionError(f"the browser could not open {url[:80]} ({_first_line(error)}).") from None

    # ------------------------------------------------------------------ actions
    def act(self, action: Action) -> None:
        """Carry out a parsed WebArena action (not ``stop``) and observe the page it leaves."""
        self._run(lambda: self._act(action))

    async def _act(self, action: Action) -> None:
        from playwright.async_api import Error as PlaywrightError

        tab = self._tabs[self.active]
        try:
            await getattr(self, f"_do_{action.kind}")(tab, action)
            if not tab.page.is_closed():
                await tab.settle()
        except PlaywrightError as error:
            if not self.engine.running:
                raise
            raise ActionError(f"the browser could not do that ({_first_line(error)}).") from None
        finally:
            await self._observe()

    def element(self, node_id: int | None) -> ShownNode:
        key = str(node_id)
        if key in self.view.shown:
            return self.view.shown[key]
        if key in self.view.hidden:
            raise ActionError(f"element [{node_id}] is not in view: scroll to it first.")
        raise ActionError(f"there is no element with id [{node_id}] on this page.")

    async def _do_click(self, tab: _Tab, action: Action) -> None:
        await tab.page.mouse.click(*self.element(action.element).centre)

    async def _do_hover(self, tab: _Tab, action: Action) -> None:
        await tab.page.mouse.move(*self.element(action.element).centre)

    async def _do_type(self, tab: _Tab, action: Action) -> None:
        node = self.element(action.element)
        if not node.editable:
            raise ActionError(
                f"[{action.element}] is a {node.role}, not a text field: you cannot type into it."
            )
        # WebArena clicks the field and types: Playwright sends each character as a key press
        # (or inserts it as text), so the model's text is only ever typed. Typing adds to what
        # the field holds, as in WebArena and the text backend.
        await tab.page.mouse.click(*node.centre)
        await tab.page.keyboard.type(action.argument)
        if action.press_enter:
            await tab.page.keyboard.press("Enter")

    async def _do_press(self, tab: _Tab, action: Action) -> None:
        from playwright.async_api import Error as PlaywrightError

        if not action.argument:
            raise ActionError("press needs a key, as in press [Enter].")
        key = action.argument.replace("Meta", "Control")  # WebArena's rule off a Mac
        try:
            await tab.page.keyboard.press(key)
        except PlaywrightError as error:
            if not self.engine.running:
                raise
            raise ActionError(
                f"'{action.argument[:40]}' is not a key combination ({_first_line(error)})."
            ) from None

    async def _do_scroll(self, tab: _Tab, action: Action) -> None:
        direction = action.argument.lower().removeprefix("direction=")
        if direction not in ("up", "down"):
            raise ActionError(f"scroll goes 'up' or 'down', not '{action.argument[:40]}'.")
        await tab.page.evaluate(_SCROLL_SCRIPT, -1 if direction == "up" else 1)

    async def _do_new_tab(self, tab: _Tab, action: Action) -> None:
        await self._new_tab()
        self.active = len(self._tabs) - 1

    async def _do_tab_focus(self, tab: _Tab, action: Action) -> None:
        index = action.argument
        if not (index.isascii() and index.isdigit()) or int(index) >= len(self._tabs):
            raise ActionError(f"there is no tab {index[:20]!r}; tabs are 0..{len(self._tabs) - 1}.")
        self.active = int(index)
        await self._tabs[self.active].page.bring_to_front()

    async def _do_close_tab(self, tab: _Tab, action: Action) -> None:
        if len(self._tabs) == 1:
            raise ActionError("this is the only tab: it cannot be closed.")
        await tab.page.close()
        self._tabs.remove(tab)
        self.active = len(self._tabs) - 1  # WebArena goes on in the last tab
        await self._tabs[self.active].page.bring_to_front()

    async def _do_goto(self, tab: _Tab, action: Action) -> None:
        url = action.argument
        if not url.startswith(("http://", "https://")):
            url = "http://" + url
        problem = url_problem(url)
        if problem:
            raise ActionError(f"'{action.argument[:80]}' is not a valid URL ({problem}).")
        if not self.reachable(url):
            raise ActionError(f"'{action.argument[:80]}' is not on one of the sites this browser can reach.")
        await self._goto(tab.page, self.live(url))

    async def _do_go_back(self, tab: _Tab, action: Action) -> None:
        if not await tab.can_go(-1):
            raise ActionError("there is no previous page in this tab.")
        await tab.page.go_back(wait_until="load")

    async def _do_go_forward(self, tab: _Tab, action: Action) -> None:
        if not await tab.can_go(+1):
            raise ActionError("there is no next page in this tab.")
        await tab.page.go_forward(wait_until="load")

    # ------------------------------------------------------------------ after the episode
    def read(self, url: str, locator: str) -> str:
        """WebArena's program_html read: the page at ``url`` ("last": the page the episode ended
        on; else a new tab at that canonical address), then the JS ``locator``'s value as text,
        or the page's HTML for an empty locator (WebArena's ``page.content()``). The locator
        comes from the task's config, never from the model; one that fails reads as ''."""
        return self._run(lambda: self._read(url, locator))

    async def _read(self, url: str, locator: str) -> str:
        if url == "last":
            page = self._tabs[self.active].page
        elif not self.reachable(url):
            return ""
        else:
            page = await self._context.new_page()  # not a tab of the episode: it has ended
            try:
                await self._goto(page, self.live(url))
            except ActionError:
                return ""
        try:
            return await _read_page(page, locator)
        finally:
            if url != "last":
                await page.close()

    def screenshot(self) -> bytes:
        """The current tab's viewport as PNG (WebArena's image observation)."""
        return self._run(lambda: self._tabs[self.active].page.screenshot(type="png"))


async def _read_page(page: Any, locator: str) -> str:
    if not locator.strip():
        return await page.content()
    try:
        value = await page.evaluate(f"() => {locator}")
    except Exception:  # noqa: BLE001  (WebArena: the page is wrong, the value is empty)
        return ""
    return str(value)  # as WebArena: str() of what the page gave ("None" for null)


_SCROLL_SCRIPT = """(sign) => {
  const element = document.scrollingElement || document.body;
  element.scrollTop = element.scrollTop + sign * window.innerHeight;
}"""


class _Tab:
    """A page, its CDP session, and the navigation an input started in it, if any."""

    def __init__(self, page: Any, client: Any, main_frame: str):
        self.page, self.client, self.main_frame = page, client, main_frame
        self.navigation: asyncio.Future | None = None
        self.first_entry = 0  # the history before it (a new tab's blank page) is not the episode's

    def navigation_requested(self, event: dict[str, Any]) -> None:
        if event.get("frameId") == self.main_frame and self.navigation is None:
            self.navigation = asyncio.get_running_loop().create_future()

    def stopped_loading(self, event: dict[str, Any]) -> None:
        pending = self.navigation
        if event.get("frameId") == self.main_frame and pending is not None:
            self.navigation = None
            if not pending.done():
                pending.set_result(None)

    async def settle(self) -> None:
        """Wait for the navigation the last input started (a link, a form sent by a click or by
        Enter), if any. Chromium announces one on the page's session before the page runs its
        next task, so one round trip through the page's task queue tells."""
        try:
            await self.client.send(
                "Runtime.evaluate", {"expression": "new Promise(r => setTimeout(r, 0))", "awaitPromise": True}
            )
        except Exception:  # noqa: BLE001  (the document went away: a navigation is under way)
            pass
        pending = self.navigation
        if pending is not None:
            try:
                await asyncio.wait_for(asyncio.shield(pending), NAVIGATION_TIMEOUT_S)
            except asyncio.TimeoutError:
                self.navigation = None
        await self.page.wait_for_load_state("load")

    async def can_go(self, step: int) -> bool:
        history = await self.client.send("Page.getNavigationHistory")
        return self.first_entry <= history["currentIndex"] + step < len(history["entries"])

    async def start_history_here(self) -> None:
        self.first_entry = (await self.client.send("Page.getNavigationHistory"))["currentIndex"]


def _drop_context(engine: ChromiumEngine, holder: list[Any]) -> None:
    """A garbage-collected env's context is closed on the engine's thread, without waiting."""
    context = holder[0]
    if context is not None:
        engine.submit(context.close)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:160]


def wait_for_exit(pids: Iterable[int], timeout: float = 10.0) -> list[int]:
    """The pids still alive after waiting up to ``timeout`` for them to exit (for tests)."""
    deadline = time.monotonic() + timeout
    remaining = list(pids)
    while remaining and time.monotonic() < deadline:
        remaining = [pid for pid in remaining if _alive(pid)]
        if remaining:
            time.sleep(0.05)
    return remaining


def _alive(pid: int) -> bool:
    return _stat(pid)[0] not in (b"", b"Z")  # a zombie has exited
