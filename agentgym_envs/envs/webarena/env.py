"""WebArena (AgentGym's ``webarena`` env, item ids ``webarena_<n>``) on generated offline sites.

The agent reads a page as WebArena's accessibility tree and acts with WebArena's id-based
actions, on three generated web applications (a shop, a Postmill-like forum, a GitLab-like code
host; see ``sites.py``). Each task is answered with ``stop [answer]``, which ends the episode and
runs the task's evaluators: reward 1 on success, else 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.envs.webarena.browser import (
    ACTION_HELP,
    ActionError,
    Browser,
    extract_action,
    parse_action,
)
from agentgym_envs.envs.webarena.evaluators import evaluate
from agentgym_envs.envs.webarena.pages import CART_URL, CHECKOUT_URL
from agentgym_envs.envs.webarena.sites import FORUM, GITLAB, generate_world
from agentgym_envs.envs.webarena.tasks import make_task
from agentgym_envs.envs.webarena.webarena_configs import load_webarena_configs
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
    """

    action_help = ACTION_HELP
    max_observation_length = 8192
    max_action_length = 2048

    def __init__(
        self, split: str = "train", render_mode: str | None = None, tasks: Sequence[dict] | str | None = None
    ):
        super().__init__(split=split, render_mode=render_mode)
        self._given = load_webarena_configs(tasks) if tasks is not None else None
        self.config: dict[str, Any] = {}
        self.browser: Browser | None = None
        self.previous_action = "None"

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        return WEBARENA_TOOLS

    # ------------------------------------------------------------------ the task
    def task_description(self) -> str:
        return f"{INTRODUCTION}{ACTION_HELP}\n\n{RULES}\n\nOBJECTIVE: {self.config.get('intent', '')}"

    def _start_task(self, task_id: int) -> str:
        world = generate_world(task_id)
        self.config = make_task(task_id, world) if self._given is None else self._given[task_id]
        self.browser = Browser(world, self.config["start_url"])
        self.previous_action = "None"
        return self.observation_text()

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
        except ActionError as error:
            return Outcome(
                self.observation_text(f"Invalid action: {error} The page is unchanged."), self.score
            )
        # The command, not the whole reply: a client that sends the model's reply (AgentGym's
        # WebArena client does) must see the same line as one that sends the command.
        command = extract_action(action)
        self.previous_action = command if len(command) <= 200 else command[:200] + "..."
        return Outcome(self.observation_text(), self.score)

    def _stop(self, answer: str) -> Outcome:
        success = evaluate(self.config["eval"], answer=answer, url=self.browser.url, world=self.browser.world)
        verdict = "The task is done." if success else "The task was not done."
        return Outcome(f"You stopped with the answer [{answer}]. {verdict}", float(success), done=True)

    # ------------------------------------------------------------------ the expert
    def expert(self) -> tuple[str, str]:
        """Plays through the page as shown: it finds each element's id in the current
        observation by role and name, walks the task's plan of pages, and stops once the
        target page is open (questions, navigation) or the site shows the change (edits)."""
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
                if node_id is None and "(scroll down" in self.browser.tree():
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
        if plan["finish"]:
            return evaluate(self.config["eval"], answer="", url=browser.url, world=browser.world)
        return same_page(browser.url, plan["target"])

    def _past_target(self) -> bool:
        """On a page the edit leads through after the target (the cart and checkout of a purchase)."""
        return self.config["plan"]["finish"] == "buy" and self.browser.url in (CART_URL, CHECKOUT_URL)

    def _finish_step(self) -> tuple[str, str]:
        plan, browser = self.config["plan"], self.browser
        finish, world, form = plan["finish"], browser.world, browser.tab.form
        if finish in ("add_to_cart", "buy") and plan["sku"] not in world.shop.cart:
            if browser.url in (CART_URL, CHECKOUT_URL):
                return (
                    "The item is not in my cart yet; I start again from the shop.",
                    f"goto [{self.config['start_url']}]",
                )
            return "This is the product; I add it to the cart.", self._click("button", "Add to Cart")
        if finish == "buy":
            if browser.url == CHECKOUT_URL:
                if form.get("address") != plan["address"]:
                    if form.get("address"):  # a wrong address: reload the form to clear it
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
            if form.get("comment") != plan["text"]:
                return self._fill("Comment", "comment", plan["text"])
            return "The comment is written; I post it.", self._click("button", "Post comment")
        if finish in ("create_post", "create_issue"):
            fields = [("Title", "title", plan["title"])]
            fields += [("Body", "body", plan["body"])] if finish == "create_post" else []
            for name, field, wanted in fields:
                if form.get(field) != wanted:
                    return self._fill(name, field, wanted)
            button = "Create submission" if finish == "create_post" else "Create issue"
            return "The form is filled in; I submit it.", self._click("button", button)
        raise AssertionError(f"unknown finish {finish!r}")  # every template's finish is handled above

    def _fill(self, name: str, field: str, text: str) -> tuple[str, str]:
        if self.browser.tab.form.get(field):  # typing adds to a field, so a wrong text needs a reload
            return f"The {name} field holds the wrong text; I reload the page.", f"goto [{self.browser.url}]"
        node = self._find("textbox", name)
        return f"I type the {name.lower()}.", f"type [{node}] [{text}] [0]"

    def _click(self, role: str, name: str) -> str:
        node = self._find(role, name)
        if node is None:
            return "scroll [down]"
        return f"click [{node}]"

    def _find(self, role: str, name: str) -> int | None:
        """The id of the first node shown with this role and name (or a name starting with it:
        "My Cart" finds "My Cart (1)"), read from the current observation text."""
        shown = [(int(i), r, n) for i, r, n, _ in _NODE.findall(self.browser.tree())]
        for exact in (True, False):
            for node_id, node_role, node_name in shown:
                if node_role == role and (node_name == name if exact else node_name.startswith(name)):
                    return node_id
        return None
