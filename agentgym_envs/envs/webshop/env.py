"""``AgentGym/WebShop-v0``: the env, tying catalogue, goals, search, pages and reward together."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.envs.webshop import pages
from agentgym_envs.envs.webshop.catalogue import (
    DEFAULT_NUM_PRODUCTS,
    DEFAULT_SEED,
    Catalogue,
    generate_catalogue,
    load_webshop_files,
)
from agentgym_envs.envs.webshop.expert import Expert, Seen
from agentgym_envs.envs.webshop.goals import generated_goal, goal_products, webshop_goals
from agentgym_envs.envs.webshop.pages import Browser
from agentgym_envs.envs.webshop.reward import Goal, noun_vocabulary, purchase_reward
from agentgym_envs.envs.webshop.search import SearchIndex, cache_root, open_index
from agentgym_envs.toolcalls import ToolParam, ToolSpec

_ACTION = re.compile(r"^(\w+)\s*\[(.*)\]$", re.DOTALL)
_RESULTS_CACHE = 4096  # searches remembered per shop (the expert repeats its queries)


class Shop:
    """One catalogue with its goals, noun vocabulary, search index and a cache of searches.
    Shared by every env of a process that asks for the same catalogue and index folder."""

    def __init__(self, catalogue: Catalogue, index: SearchIndex, goals: list[Goal] | None):
        self.catalogue = catalogue
        self.index = index
        self.nouns = noun_vocabulary(catalogue.products)
        self._file_goals = goals  # WebShop's files: AgentGym's ordered goal list
        self._test_pool = goal_products(catalogue, test=True)
        self._train_pool = goal_products(catalogue, test=False)
        self.search = lru_cache(maxsize=_RESULTS_CACHE)(self.index.search)
        self.goal = lru_cache(maxsize=16384)(self._goal)

    def _goal(self, task_id: int, test: bool) -> Goal:
        if self._file_goals is not None:
            return self._file_goals[task_id % len(self._file_goals)]
        pool = self._test_pool if test else self._train_pool
        if not pool:
            raise ValueError("the catalogue has no product with attributes to write goals from")
        return generated_goal(self.catalogue, task_id, test, pool)


_SHOPS: dict[tuple, Shop] = {}


def open_shop(num_products, seed, products, attributes, index_dir) -> Shop:
    # The cache folder is part of the key: an env made after $AGENTGYM_CACHE changed gets its own.
    folder = index_dir if index_dir is not None else cache_root()
    key = (num_products, seed, str(products), str(attributes), str(folder))
    shop = _SHOPS.get(key)
    if shop is None:
        if (products is None) != (attributes is None):
            raise ValueError("give both products= and attributes= (WebShop's two files), or neither")
        if products is not None:
            catalogue = load_webshop_files(products, attributes, num_products)
            goals = webshop_goals(catalogue)
            if not goals:
                raise ValueError(f"{attributes} gives no product of {products} a synthetic instruction")
        else:
            catalogue = generate_catalogue(num_products or DEFAULT_NUM_PRODUCTS, seed)
            goals = None
        shop = _SHOPS[key] = Shop(catalogue, open_index(catalogue, index_dir), goals)
    return shop


class WebShopEnv(TextEnv):
    """Find and buy the product the instruction describes, in a shop you can search.

    Beyond ``split`` and ``render_mode`` (:class:`~agentgym_envs.core.TextEnv`'s):

    Args:
        num_products: size of the generated shop (default 1,000, AgentGym's; up to millions).
            With WebShop's files: how many of the file's products to load (default: all).
        seed: which generated shop.
        products, attributes: WebShop's ``items_shuffle*.json`` and ``items_ins_v2*.json``; the
            env then plays WebShop's products and AgentGym's goals instead of the generated shop.
        index_dir: where the search index lives (default ``$AGENTGYM_CACHE/webshop/...``).
    """

    action_help = (
        "Actions: search[keywords] when the page has a search bar, or click[value] where value is "
        "one of the page's clickable texts (a product id, an option, Buy Now, Next >, < Prev, "
        "Back to Search, Description, Features, Reviews). Texts on a page are separated by [SEP]."
    )
    max_observation_length = 8192

    def __init__(
        self,
        split: str = "train",
        render_mode: str | None = None,
        num_products: int | None = None,
        seed: int = DEFAULT_SEED,
        products: str | Path | None = None,
        attributes: str | Path | None = None,
        index_dir: str | Path | None = None,
    ):
        super().__init__(split=split, render_mode=render_mode)
        self.shop = open_shop(num_products, seed, products, attributes, index_dir)
        self._expert = Expert(self.shop.catalogue)
        self.goal: Goal | None = None
        self.browser: Browser | None = None
        self._seen: dict[str, Seen] = {}
        # The current page's clickables and actions, worked out once per page shown.
        self._clickables: dict[str, pages.Clickable] = {}
        self._actions: list[str] = []

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        query = ToolParam("query", "string", "the search keywords")
        clickables = "a product id, an option, Buy Now, Next >, < Prev, Back to Search, Description, ..."
        target = ToolParam("target", "string", f"a clickable text of the page: {clickables}")
        return (
            ToolSpec("search", "Search the shop (on a page with a search bar).", (query,), "search[{query}]"),
            ToolSpec("click", "Click one of the page's clickable texts.", (target,), "click[{target}]"),
        )

    def task_description(self) -> str:
        return (
            "You are web shopping. Every round you see a page of the shop (the instruction of what "
            "to buy is on every page) and answer with one action. Search with well-chosen "
            "keywords, open products, choose the options the instruction asks for, and buy the "
            "product that fits the instruction best with Buy Now, which ends the task."
        )

    # ------------------------------------------------------------------------ the contract
    def _start_task(self, task_id: int) -> str:
        self.goal = self.shop.goal(task_id, task_id in self.splits.test)
        self.browser = Browser(instruction=self.goal.instruction)
        self._seen = {}
        self._show(pages.SEARCH)
        return self._page()

    def _apply(self, action: str) -> Outcome:
        match = _ACTION.match(action)
        if match is None:
            return self._refuse(f"{action[:60]!r} is not an action: write search[keywords] or click[value].")
        verb, argument = match.group(1).lower(), match.group(2).strip()
        if verb == "search":
            return self._search(argument)
        if verb == "click":
            return self._click(argument)
        return self._refuse(f"unknown action {verb!r}: the actions are search[...] and click[...].")

    def available_actions(self) -> list[str]:
        return list(self._actions)

    def expert(self) -> tuple[str, str]:
        return self._expert.act(self.browser, self._seen)

    # ------------------------------------------------------------------------ actions
    def _search(self, keywords: str) -> Outcome:
        if self.browser.page != pages.SEARCH:
            return self._refuse("there is no search bar on this page; click[Back to Search] first.")
        if not keywords:
            return self._refuse("search[] needs keywords, e.g. search[red running shoes].")
        self.browser.keywords = keywords
        self.browser.hits = self.shop.search(keywords)
        self.browser.page_number = 1
        self._show(pages.RESULTS)
        return self._stay()

    def _click(self, text: str) -> Outcome:
        clickable = self._clickables.get(text.lower())
        if clickable is None:
            if self.browser.page == pages.SEARCH:
                return self._refuse("nothing is clickable on the search page; use search[keywords].")
            return self._refuse(f"{text[:60]!r} is not clickable on this page.")
        if clickable.kind == "product":
            self.browser.product = clickable.position
            self.browser.options = {}
            self._show(pages.ITEM)
        elif clickable.kind == "option":
            self.browser.options[clickable.group] = clickable.text
            self._show(pages.ITEM)
        else:
            return self._press(clickable.text)
        return self._stay()

    def _press(self, button: str) -> Outcome:
        browser = self.browser
        if button == pages.BUY_NOW:
            return self._buy()
        if button == pages.BACK_TO_SEARCH:
            browser.keywords, browser.hits, browser.product, browser.options = "", [], None, {}
            self._show(pages.SEARCH)
        elif button == pages.NEXT_PAGE:
            browser.page_number += 1
            self._show(pages.RESULTS)
        elif button == pages.PREV_PAGE and browser.page == pages.RESULTS:
            browser.page_number -= 1
            self._show(pages.RESULTS)
        elif button == pages.PREV_PAGE and browser.page == pages.SUB:
            self._show(pages.ITEM)
        elif button == pages.PREV_PAGE:  # from an item page: back to its results page
            browser.product, browser.options = None, {}
            self._show(pages.RESULTS)
        else:  # Description, Features, Reviews
            browser.sub_page = button
            self._show(pages.SUB)
        return self._stay()

    def _buy(self) -> Outcome:
        product = self.shop.catalogue.products[self.browser.product]
        parts = purchase_reward(product, self.goal, self.browser.options, self.shop.nouns)
        self.browser.page = pages.DONE
        self._clickables, self._actions = {}, []
        chosen = ", ".join(f"{k}: {v}" for k, v in self.browser.options.items()) or "none"
        text = pages.SEP.join(
            [
                "Thank you for shopping with us!",
                "Purchased",
                product.asin,
                product.title,
                f"Options: {chosen}",
                "Your score (min 0.0, max 1.0)",
                f"{parts.score:.2f}",
            ]
        )
        return Outcome(text, parts.score, done=True)

    # ------------------------------------------------------------------------ helpers
    def _show(self, page: str) -> None:
        """Move to ``page``, list what it lets the agent do, and remember what it shows about the
        product (the expert's memory)."""
        self.browser.page = page
        self._clickables = pages.clickables(self.browser, self.shop.catalogue)
        if page == pages.SEARCH:
            self._actions = ["search[<your query>]"]
        else:
            self._actions = [f"click[{c.text}]" for c in self._clickables.values()]
        if page in (pages.ITEM, pages.SUB):
            product = self.shop.catalogue.products[self.browser.product]
            seen = self._seen.setdefault(product.asin, Seen())
            seen.options = product.options
            if page == pages.SUB and self.browser.sub_page == "Features":
                seen.features = " ".join(product.bullet_points).lower()

    def _page(self) -> str:
        return pages.render(self.browser, self.shop.catalogue)

    def _stay(self) -> Outcome:
        return Outcome(self._page(), self.score)

    def _refuse(self, reason: str) -> Outcome:
        """WebShop does nothing on an invalid action; we say why and show the page again."""
        if self.browser.page == pages.DONE:
            return Outcome(f"Invalid action: {reason}", self.score, done=True)
        return Outcome(f"Invalid action: {reason}\n\n{self._page()}", self.score)
