"""WebArena (AgentGym's ``webarena`` env, item ids ``webarena_<n>``) on generated offline sites.

The agent reads a page as WebArena's accessibility tree and acts with WebArena's id-based
actions, on three generated web applications (a shop, a Postmill-like forum, a GitLab-like code
host; see ``sites.py``). Each task is answered with ``stop [answer]``, which ends the episode and
runs the task's evaluators: reward 1 on success, else 0.

Two backends show the same sites. ``backend="text"`` (the default, fast, for training) builds
the tree from a page model in Python (``browser.py``). ``backend="browser"`` serves the sites as
HTML pages on loopback ports (``webserver.py``) and reads them in headless Chromium as WebArena
does (``chromium.py``): the tree Chromium computes, actions done with the mouse and keyboard,
``program_html`` checks run in the pages, and a screenshot in ``info["screenshot"]`` with
``observation_type="image"``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.envs.webarena.auto_login import DEFAULT_MAX_AGE, LoginStates
from agentgym_envs.envs.webarena.browser import (
    ACTION_HELP,
    ActionError,
    Browser,
    extract_action,
    parse_action,
)
from agentgym_envs.envs.webarena.chromium import BrowserLost, ChromiumBrowser, find_chromium, parse_tree
from agentgym_envs.envs.webarena.evaluators import evaluate
from agentgym_envs.envs.webarena.pages import CART_URL, CHECKOUT_URL
from agentgym_envs.envs.webarena.sites import FORUM, FORUM_USER, GITLAB, SHOP, World, generate_world
from agentgym_envs.envs.webarena.tasks import make_task
from agentgym_envs.envs.webarena.webarena_configs import (
    BROWSER_EVALS,
    TEXT_EVALS,
    evaluate_config,
    load_webarena_configs,
    open_config,
    origin_of,
)
from agentgym_envs.envs.webarena.webserver import SiteServer
from agentgym_envs.toolcalls import ToolParam, ToolSpec

INTRODUCTION = (
    "You are an autonomous intelligent agent tasked with navigating a web browser. You will be given "
    "web-based tasks. These tasks will be accomplished through the use of specific actions you can issue.\n\n"
    "Here's the information you'll have:\n"
    "The user's objective: This is the task you're trying to complete.\n"
    "The current web page's accessibility tree: This is a simplified representation of the webpage, "
    "providing key information.\n"
    "The current web page's URL: This is the page you're currently navigating.\n"
    "The open tabs: These are the tabs you have open.\n"
    "The previous action: This is the action you just performed.\n\n"
    "The actions you can perform fall into several categories:\n\n"
)
RULES = (
    "Rules:\n"
    "1. Issue only one valid action per turn, based on the current observation.\n"
    "2. Refer to elements by the numeric id in brackets before them: click [1234].\n"
    "3. The action may be written bare or as the last ```...``` block of your reply, as in: "
    "In summary, the next action I will perform is ```click [1234]```.\n"
    "4. When the task is done, or you think it cannot be done, issue the stop action; put the answer "
    "in its brackets if the task asks a question. Stop ends the episode."
)
_ELEMENT = ToolParam("element_id", "integer", "the number in brackets before the element, e.g. 1234")
# WebArena's actions as tools: each writes the action of the same name in WebArena's grammar.
WEBARENA_TOOLS = (
    ToolSpec("click", "Click the element with this id on the page.", (_ELEMENT,), "click [{element_id}]"),
    ToolSpec(
        "type",
        "Type text into the field with this id (Enter is pressed after it unless press_enter is false).",
        (
            _ELEMENT,
            ToolParam("text", "string", "what to type"),
            ToolParam("press_enter", "boolean", "press Enter after typing", required=False, default=True),
        ),
        "type [{element_id}] [{text}] [{press_enter}]",
    ),
    ToolSpec("hover", "Hover over the element with this id.", (_ELEMENT,), "hover [{element_id}]"),
    ToolSpec(
        "press",
        "Press a key combination.",
        (ToolParam("key_comb", "string", "e.g. Enter, PageDown, PageUp"),),
        "press [{key_comb}]",
    ),
    ToolSpec(
        "scroll",
        "Scroll the page.",
        (ToolParam("direction", "string", "which way", enum=("down", "up")),),
        "scroll [{direction}]",
    ),
    ToolSpec("new_tab", "Open a new, empty browser tab.", (), "new_tab"),
    ToolSpec(
        "tab_focus",
        "Switch to the tab with this index.",
        (ToolParam("tab_index", "integer", "the tab's index, from 0"),),
        "tab_focus [{tab_index}]",
    ),
    ToolSpec("close_tab", "Close the current tab.", (), "close_tab"),
    ToolSpec("goto", "Go to a URL.", (ToolParam("url", "string", "the address"),), "goto [{url}]"),
    ToolSpec("go_back", "Go to the previous page.", (), "go_back"),
    ToolSpec("go_forward", "Go to the next page (after go_back).", (), "go_forward"),
    ToolSpec(
        "stop",
        "End the task, with the answer if the task asks a question. Ends the episode.",
        (ToolParam("answer", "string", "the answer (empty if none is asked)", required=False, default=""),),
        "stop [{answer}]",
    ),
)
_NODE = re.compile(r"^\s*\[(\d+)\] (\w+) '(.*?)'(?: value: '(.*?)')?(?: required: True)?$", re.MULTILINE)
BACKENDS = ("text", "browser")
OBSERVATION_TYPES = ("accessibility_tree", "image")
SUCCESS_URL = f"{SHOP}/checkout/onepage/success/"
_LOST = (
    "The browser (Chromium) stopped, so this episode was lost. "
    "Call reset() to start a new episode in a fresh browser."
)
# A site's front page has two addresses (Postmill's / and /forums, GitLab's / and its dashboard).
_SAME_PAGE = {f"{FORUM}/forums": f"{FORUM}/", f"{GITLAB}/dashboard/projects": f"{GITLAB}/"}


def same_page(a: str, b: str) -> bool:
    def canonical(url: str) -> str:
        url = url if url.endswith("/") or "?" in url else url + "/"
        return _SAME_PAGE.get(url.rstrip("/"), url)

    return canonical(a) == canonical(b)


class WebArenaEnv(TextEnv):
    """Web tasks in an accessibility-tree browser over generated shop, forum and GitLab sites.

    Args:
        split: ``train`` (instruction set), ``test`` (AgentEval), ``agenttraj``, ``agenttraj_l``.
        render_mode: ``None`` or ``"ansi"``.
        tasks: WebArena's own task configs instead of the generated tasks (``webarena_configs.py``).
        backend: ``"text"`` (a page model in Python) or ``"browser"`` (the sites as real pages in
            headless Chromium; needs ``playwright`` and a Chromium: ``apt-get install chromium``).
        chromium_path: the Chromium to run (else ``$AGENTGYM_CHROMIUM``, else one on PATH).
        observation_type: ``"accessibility_tree"``, or ``"image"`` for WebArena's image
            observation as well: the viewport's PNG bytes in ``info["screenshot"]`` after every
            reset and step (the text observation stays the prompt body).
        sites: with ``backend="browser"`` and ``tasks``, the addresses of the user's own WebArena
            sites (``{"shopping": "http://host:7770", "reddit": ..., "gitlab": ...,
            "shopping_admin": ..., "map": ..., "wikipedia": ..., "homepage": ...}``): WebArena's
            configs play there, signed in as WebArena's auto-login does; a task needing a site
            not given is refused with the reason.
        auth_dir: where the login states are kept (default ``$AGENTGYM_CACHE/webarena-auth``).
        login_max_age: seconds a login state is reused before signing in again (0: every episode).
    """

    action_help = ACTION_HELP
    max_observation_length = 8192
    max_action_length = 2048

    def __init__(
        self,
        split: str = "train",
        render_mode: str | None = None,
        tasks: Sequence[dict] | str | None = None,
        backend: str = "text",
        chromium_path: str | None = None,
        observation_type: str = "accessibility_tree",
        sites: Mapping[str, str] | None = None,
        auth_dir: str | None = None,
        login_max_age: float = DEFAULT_MAX_AGE,
    ):
        super().__init__(split=split, render_mode=render_mode)
        check_backend(backend, chromium_path, observation_type)
        if sites is not None and (backend != "browser" or tasks is None):
            raise ValueError(
                "sites= plays WebArena's own configs on your sites: give tasks= and backend='browser'"
            )
        self.backend, self.observation_type = backend, observation_type
        # Found now, so that a missing Chromium is reported by gym.make, with the install command.
        self._chromium_path = find_chromium(chromium_path) if backend == "browser" else None
        evals = BROWSER_EVALS if backend == "browser" else TEXT_EVALS
        self._given = load_webarena_configs(tasks, sites, evals) if tasks is not None else None
        # The user's sites and their login states (None: the generated sites, which need no login).
        self._logins = None if sites is None else LoginStates(self._given.sites, auth_dir, login_max_age)
        self.config: dict[str, Any] = {}
        self.world: World | None = None
        self.browser: Browser | ChromiumBrowser | None = None
        self._sites: SiteServer | None = None  # the browser backend's web server, from the first reset
        self._chromium: ChromiumBrowser | None = None
        self.screenshot: bytes | None = None  # with observation_type="image": the last observation's PNG
        self.previous_action = "None"

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        return WEBARENA_TOOLS

    # ------------------------------------------------------------------ the task
    def task_description(self) -> str:
        return f"{INTRODUCTION}{ACTION_HELP}\n\n{RULES}\n\nOBJECTIVE: {self.config.get('intent', '')}"

    def _start_task(self, task_id: int) -> str:
        if self._logins is not None:
            return self._start_on_users_sites(self._given[task_id])
        world = generate_world(task_id)
        self.config = make_task(task_id, world) if self._given is None else self._given[task_id]
        self.world = world
        if self.backend == "text":
            self.browser = Browser(world, self.config["start_url"])
        else:
            self.browser = self._browser_on(world)
            try:
                self.browser.open(self.config["start_url"])
            except BrowserLost:  # it died as the episode began: once more, in a new browser
                self.browser.open(self.config["start_url"])
        self.previous_action = "None"
        self._take_screenshot()
        return self.observation_text()

    def _start_on_users_sites(self, config: dict[str, Any]) -> str:
        """A WebArena config on the user's sites: no generated world; the browser reaches the
        sites' own addresses."""
        self.config, self.world = config, None
        if self._chromium is None:
            # By origin: a site may live under a path (WebArena's shop admin at http://host:7780/admin).
            origins = {origin: origin for origin in map(origin_of, self._given.sites.values())}
            self._chromium = ChromiumBrowser(origins, self._chromium_path, resources_anywhere=True)
        self.browser = self._chromium
        try:
            open_config(self.browser, config, self._logins)
        except BrowserLost:  # it died as the episode began: once more, in a new browser
            open_config(self.browser, config, self._logins)
        self.previous_action = "None"
        self._take_screenshot()
        return self.observation_text()

    def _browser_on(self, world: World) -> ChromiumBrowser:
        """The browser backend's browser over the sites of ``world`` (served from the first reset)."""
        if self._sites is None:
            self._sites = SiteServer(world).start()
            self._chromium = ChromiumBrowser(self._sites.origins, self._chromium_path)
        else:
            self._sites.set_world(world)
        return self._chromium

    def _take_screenshot(self) -> None:
        if self.observation_type == "image":
            self.screenshot = self.browser.screenshot()

    @property
    def info(self) -> dict[str, Any]:
        info = super().info
        if self.observation_type == "image":
            info["screenshot"] = self.screenshot
        return info

    def close(self) -> None:
        """Closes the browser backend's context and web server (Chromium itself closes when no
        env of the process uses it)."""
        if self._chromium is not None:
            self._chromium.close()
        if self._sites is not None:
            self._sites.close()
        self._chromium = self._sites = None
        super().close()

    def subtask(self) -> str | None:
        """The site (or sites) the task runs on, as WebArena's configs name them: ``shopping``,
        ``reddit``, ``gitlab``."""
        return "+".join(self.config.get("sites") or ()) or None

    def observation_text(self, note: str = "") -> str:
        """WebArena's prompt body: the tabs and tree, the URL, the objective, the previous action."""
        browser = self.browser
        lines = [note] if note else []
        lines += [
            "OBSERVATION:",
            f"{browser.tabs_line()}\n\n{browser.tree()}",
            f"URL: {browser.url}",
            f"OBJECTIVE: {self.config['intent']}",
            f"PREVIOUS ACTION: {self.previous_action}",
        ]
        return "\n".join(lines)

    def _choose_task(self, options: dict[str, Any] | None) -> int:
        if self._given is None:
            return super()._choose_task(options)
        if options and options.get("task_id") is not None:
            self._given.config(int(options["task_id"]))  # a refused or unknown id: ValueError, why
            return int(options["task_id"])
        ids = sorted(self._given)
        return ids[int(self.np_random.integers(len(ids)))]

    # ------------------------------------------------------------------ acting
    def _apply(self, action: str) -> Outcome:
        try:
            parsed = parse_action(action)
            if parsed.kind == "stop":
                return self._stop(parsed.argument)
            self.browser.act(parsed)
            self._take_screenshot()
        except ActionError as error:
            return Outcome(
                self.observation_text(f"Invalid action: {error} The page is unchanged."), self.score
            )
        except BrowserLost:
            return Outcome(_LOST, self.score, done=True, success=False, engine_lost=True)
        # The command, not the whole reply: a client that sends the model's reply (AgentGym's
        # WebArena client does) must see the same line as one that sends the command.
        command = extract_action(action)
        self.previous_action = command if len(command) <= 200 else command[:200] + "..."
        return Outcome(self.observation_text(), self.score)

    def _stop(self, answer: str) -> Outcome:
        if self._given is not None and self.backend == "browser":  # WebArena's configs: its helpers too
            success = evaluate_config(
                self.config, answer=answer, browser=self.browser, sites=self._given.sites
            )
        else:
            read = self.browser.read if self.backend == "browser" else None
            success = evaluate(
                self.config["eval"], answer=answer, url=self.browser.url, world=self.world, read=read
            )
        verdict = "The task is done." if success else "The task was not done."
        return Outcome(f"You stopped with the answer [{answer}]. {verdict}", float(success), done=True)

    # ------------------------------------------------------------------ the expert
    def expert(self) -> tuple[str, str]:
        """Plays through the page as shown: it finds each element's id in the current
        observation by role and name, walks the task's plan of pages, and stops once the
        target page is open (questions, navigation) or the site shows the change (edits).
        With the browser backend it reads only the page (the tree Chromium shows), never the
        sites' data."""
        if "plan" not in self.config:
            raise NotImplementedError("WebArena's own task configs have no scripted expert here")
        plan, url = self.config["plan"], self.browser.url
        if self._expert_finished():
            answer = plan["answer"]
            return (
                f"The page shows what the task asks: the answer is {answer}."
                if answer
                else "The task is done, so I stop."
            ), f"stop [{answer}]"
        if same_page(url, plan["target"]) or self._past_target():
            return self._finish_step()
        for hop_url, kind, role, name, text in plan["hops"]:
            if same_page(url, hop_url):
                node_id = self._find(role, name)
                if node_id is None and self._more_below():
                    return f"'{name}' is further down the page.", "scroll [down]"
                if node_id is None:
                    break
                if kind == "type":
                    return f"I search for '{text}'.", f"type [{node_id}] [{text}] [1]"
                return f"I open '{name}', which leads toward the page I need.", f"click [{node_id}]"
        start = self.config["start_url"]
        return f"This page is off my path, so I go back to {start}.", f"goto [{start}]"

    def _expert_finished(self) -> bool:
        plan, browser = self.config["plan"], self.browser
        if not plan["finish"]:
            return same_page(browser.url, plan["target"])
        if self.backend == "text":
            return evaluate(self.config["eval"], answer="", url=browser.url, world=self.world)
        return self._page_shows_done()

    def _page_shows_done(self) -> bool:
        """Whether the page says the edit is made: what each site shows right after it."""
        plan, url = self.config["plan"], self.browser.url
        finish = plan["finish"]
        if finish == "add_to_cart":
            return same_page(url, plan["target"]) and self._shows("StaticText", "You added ")
        if finish == "buy":
            return url == SUCCESS_URL
        if finish == "upvote":
            return self._shows("StaticText", "", inside="(you have upvoted)")
        if finish == "comment":
            return self._shows("StaticText", f"{FORUM_USER}: {plan['text']}")
        if finish in ("create_post", "create_issue"):  # the new post's or issue's own page
            return (
                not same_page(url, plan["target"])
                and self._find("heading", plan["title"], exact=True) is not None
            )
        raise AssertionError(f"unknown finish {finish!r}")

    def _past_target(self) -> bool:
        """On a page the edit leads through after the target (the cart and checkout of a purchase)."""
        return self.config["plan"]["finish"] == "buy" and self.browser.url in (CART_URL, CHECKOUT_URL)

    def _finish_step(self) -> tuple[str, str]:
        plan, browser = self.config["plan"], self.browser
        finish = plan["finish"]
        if finish in ("add_to_cart", "buy") and not self._holds_item():
            if browser.url in (CART_URL, CHECKOUT_URL):
                return (
                    "The item is not in my cart yet; I start again from the shop.",
                    f"goto [{self.config['start_url']}]",
                )
            return "This is the product; I add it to the cart.", self._click("button", "Add to Cart")
        if finish == "buy":
            if browser.url == CHECKOUT_URL:
                typed = self._typed("Shipping Address", "address")
                if typed != plan["address"]:
                    if typed:  # a wrong address: reload the form to clear it
                        return (
                            "The address field holds the wrong text; I reload the page.",
                            f"goto [{CHECKOUT_URL}]",
                        )
                    node = self._find("textbox", "Shipping Address")
                    return "I enter the shipping address.", f"type [{node}] [{plan['address']}] [0]"
                return "The address is filled in; I place the order.", self._click("button", "Place Order")
            if browser.url == CART_URL:
                return "The item is in my cart; I proceed to checkout.", self._click(
                    "button", "Proceed to Checkout"
                )
            return "The item is in my cart; I open the cart.", self._click("link", "My Cart")
        if finish == "upvote":
            return "This is the post; I upvote it.", self._click("button", "Upvote")
        if finish == "comment":
            if self._typed("Comment", "comment") != plan["text"]:
                return self._fill("Comment", "comment", plan["text"])
            return "The comment is written; I post it.", self._click("button", "Post comment")
        if finish in ("create_post", "create_issue"):
            fields = [("Title", "title", plan["title"])]
            fields += [("Body", "body", plan["body"])] if finish == "create_post" else []
            for name, field, wanted in fields:
                if self._typed(name, field) != wanted:
                    return self._fill(name, field, wanted)
            button = "Create submission" if finish == "create_post" else "Create issue"
            return "The form is filled in; I submit it.", self._click("button", button)
        raise AssertionError(f"unknown finish {finish!r}")  # every template's finish is handled above

    def _fill(self, name: str, field: str, text: str) -> tuple[str, str]:
        if self._typed(name, field):  # typing adds to a field, so a wrong text needs a reload
            return f"The {name} field holds the wrong text; I reload the page.", f"goto [{self.browser.url}]"
        node = self._find("textbox", name)
        return f"I type the {name.lower()}.", f"type [{node}] [{text}] [0]"

    def _click(self, role: str, name: str) -> str:
        node = self._find(role, name)
        if node is None:
            return "scroll [down]"
        return f"click [{node}]"

    # ------------------------------------------------------------------ what the expert reads
    def _shown(self) -> list[tuple[int, str, str]]:
        """(id, role, name) of each node in the current observation's tree."""
        if self.backend == "text":
            return [(int(i), r, n) for i, r, n, _ in _NODE.findall(self.browser.tree())]
        return [(line.node_id, line.role, line.name) for line in parse_tree(self.browser.tree())]

    def _find(self, role: str, name: str, exact: bool = False) -> int | None:
        """The id of the first node shown with this role and name (or, unless ``exact``, a name
        starting with it: "My Cart" finds "My Cart (1)"), read from the current observation."""
        shown = self._shown()
        for whole in (True,) if exact else (True, False):
            for node_id, node_role, node_name in shown:
                if node_role == role and (node_name == name if whole else node_name.startswith(name)):
                    return node_id
        return None

    def _shows(self, role: str, start: str, inside: str = "") -> bool:
        return any(r == role and n.startswith(start) and inside in n for _, r, n in self._shown())

    def _more_below(self) -> bool:
        if self.backend == "text":
            return "(scroll down" in self.browser.tree()
        return self.browser.view.more_below

    def _typed(self, name: str, field: str) -> str:
        """What the text field named ``name`` holds: the text backend's form, or in Chromium's
        tree the text shown inside the field (its static text line right under it)."""
        if self.backend == "text":
            return self.browser.tab.form.get(field, "")
        lines = parse_tree(self.browser.tree())
        for line, below in zip(lines, [*lines[1:], None]):
            if line.role == "textbox" and line.name == name:
                inside = below is not None and below.depth > line.depth and below.role == "StaticText"
                return below.name if inside else ""
        return ""

    def _holds_item(self) -> bool:
        """Whether the cart holds the task's product. The text backend's expert reads the cart;
        in the browser the page says so: the product page's "You added ..." after Add to Cart,
        the product listed on the cart or checkout page."""
        plan, url = self.config["plan"], self.browser.url
        if self.backend == "text":
            return plan["sku"] in self.world.shop.cart
        product = plan["hops"][-1][3]  # the last hop opens the product by its name
        if url == CART_URL:
            return self._find("link", product, exact=True) is not None
        if url == CHECKOUT_URL:
            return self._shows("StaticText", f"{product}: ")
        return self._shows("StaticText", "You added ")


def check_backend(backend: str, chromium_path: str | None, observation_type: str) -> None:
    """Refuse settings that do not fit together, saying why (and what to install)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend is one of {', '.join(BACKENDS)}; got {backend!r}")
    if observation_type not in OBSERVATION_TYPES:
        raise ValueError(
            f"observation_type is one of {', '.join(OBSERVATION_TYPES)}; got {observation_type!r}"
        )
    if backend == "text" and (chromium_path is not None or observation_type != "accessibility_tree"):
        raise ValueError("chromium_path and observation_type='image' need backend='browser'")
    if backend == "browser" and importlib.util.find_spec("playwright") is None:
        raise ImportError(
            "WebArena's browser backend needs the module 'playwright', which is not installed: "
            "pip install playwright (and Chromium: apt-get install chromium)"
        )
