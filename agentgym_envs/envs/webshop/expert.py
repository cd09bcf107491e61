"""The scripted shopper that AgentTraj data is built from.

It knows only what a human shopper would: the instruction text on the page, the pages it has
seen (results, item pages with their options, the Features pages it opened) and the options it
clicked. It never reads the goal behind the instruction. Its plan:

1. search with the instruction's words and wanted option values (not the price cap);
2. on the results, skip products over the price cap or already ruled out, and open the one whose
   title names the most of the wanted phrases (the next page when none comes close);
3. on the item page, rule the product out if a wanted option value is not offered; open
   "Features" when the title does not name every wanted phrase, and rule the product out if the
   bullet points do not either; then click each wanted option and "Buy Now".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from agentgym_envs.envs.webshop.pages import (
    BUY_NOW,
    DONE,
    ITEM,
    NEXT_PAGE,
    PREV_PAGE,
    RESULTS,
    SEARCH,
    SUB,
    Browser,
)

_PRICE = re.compile(r",? and price lower than ([\d.]+) dollars\s*$", re.IGNORECASE)
# " with color: navy, and size: large" at the end; a group name never spans another " with ".
_OPTIONS = re.compile(r" with ((?:(?! with )[a-z &'-])+: .*)$", re.IGNORECASE)
_OPENING = re.compile(
    r"^(i am looking for|i'm looking for|i need|find me|i want to buy|i want|i'd like|looking for)\s+"
    r"((a|an|some)\s+)?",
    re.IGNORECASE,
)
_PHRASE_BREAK = re.compile(r",\s*|\s+and\s+|\s+with\s+|\s+that is\s+|\s+that are\s+|\s+for\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Results worse than this many missing phrases are passed over for the next page, if any.
_MAX_PAGES_TO_BROWSE = 3


@dataclass(frozen=True)
class Wish:
    """What the instruction text asks for, as the expert reads it."""

    keywords: str  # the search query: what is wanted and the option values, not the price
    phrases: tuple[str, ...]  # what the product must be or have
    options: tuple[tuple[str, str], ...]  # (group, value)
    price_cap: float | None


@lru_cache(maxsize=16384)
def read_instruction(text: str) -> Wish:
    text = text.strip().rstrip(".")
    cap = None
    price = _PRICE.search(text)
    if price:
        cap = float(price.group(1))
        text = text[: price.start()]
    options = []
    found = _OPTIONS.search(text)
    if found:
        for pair in found.group(1).split(", and "):
            group, _, value = pair.partition(": ")
            options.append((group.strip().lower(), value.strip().lower()))
        text = text[: found.start()]
    need = _OPENING.sub("", text.strip()).lower()
    phrases = tuple(dict.fromkeys(p.strip() for p in _PHRASE_BREAK.split(need) if p.strip()))
    # The wanted option values go into the query too: the index holds each product's options.
    keywords = " ".join([need] + [value for _, value in options])
    return Wish(keywords=keywords, phrases=phrases, options=tuple(options), price_cap=cap)


def _first_price(price_tag: str) -> float:
    found = _NUMBER.search(price_tag.replace(",", ""))
    return float(found.group()) if found else float("inf")


@dataclass
class Seen:
    """What the shopper learned about one product from pages it opened."""

    options: dict[str, tuple[str, ...]] | None = None
    features: str | None = None  # the Features page text, lower case


class Expert:
    """Chooses the next action from the current page and the pages seen so far."""

    def __init__(self, catalogue):
        self.catalogue = catalogue

    def act(self, browser: Browser, seen: dict[str, Seen]) -> tuple[str, str]:
        wish = read_instruction(browser.instruction)
        if browser.page == SEARCH:
            return (
                f"I will search for the product with the words of the instruction: {wish.keywords}.",
                f"search[{wish.keywords}]",
            )
        if browser.page == RESULTS:
            return self._on_results(browser, wish, seen)
        if browser.page == ITEM:
            return self._on_item(browser, wish, seen)
        if browser.page == SUB:
            return "I have read this page; back to the product.", f"click[{PREV_PAGE}]"
        assert browser.page == DONE
        return "The purchase is done.", f"click[{BUY_NOW}]"

    # ---------------------------------------------------------------------------- results
    def _on_results(self, browser: Browser, wish: Wish, seen: dict[str, Seen]) -> tuple[str, str]:
        best, best_missing = None, None
        for position in browser.hits_on_page():
            product = self.catalogue.products[position]
            missing = self._ruled_out_or_missing(product, wish, seen)
            if missing is not None and (best_missing is None or len(missing) < len(best_missing)):
                best, best_missing = product, missing
        more_pages = browser.page_number < min(browser.last_page_number, _MAX_PAGES_TO_BROWSE)
        if best is not None and (len(best_missing) <= 1 or not more_pages):
            if best_missing:
                why = f"its title does not say {best_missing[0]!r}, so I will check its features"
            else:
                why = "its title names everything I need"
            price = f" and it costs {best.price_tag}" if wish.price_cap else ""
            return f"{best.asin} looks right: {why}{price}.", f"click[{best.asin}]"
        if more_pages:
            return (
                "Nothing on this page fits the instruction; I will look at the next page.",
                f"click[{NEXT_PAGE}]",
            )
        return "No result fits; I will try the search again.", "click[Back to Search]"

    def _ruled_out_or_missing(self, product, wish: Wish, seen: dict[str, Seen]) -> list[str] | None:
        """None when the product cannot do; else the wanted phrases its pages do not show yet."""
        if wish.price_cap is not None and _first_price(product.price_tag) > wish.price_cap:
            return None
        known = seen.get(product.asin)
        if known and known.options is not None and self._unavailable(wish, known.options):
            return None
        text = product.title.lower()
        if known and known.features is not None:
            text += " " + known.features
        missing = [phrase for phrase in wish.phrases if phrase not in text]
        if known and known.features is not None and missing:
            return None
        return missing

    @staticmethod
    def _unavailable(wish: Wish, offered: dict[str, tuple[str, ...]]) -> list[str]:
        return [value for group, value in wish.options if value not in offered.get(group, ())]

    # ---------------------------------------------------------------------------- item
    def _on_item(self, browser: Browser, wish: Wish, seen: dict[str, Seen]) -> tuple[str, str]:
        product = self.catalogue.products[browser.product]
        known = seen.get(product.asin, Seen())
        lacking = self._unavailable(wish, product.options)
        if lacking:
            return f"This product is not offered in {lacking[0]}; back to the results.", f"click[{PREV_PAGE}]"
        missing = [p for p in wish.phrases if p not in product.title.lower()]
        if missing and known.features is None:
            return f"The title does not mention {missing[0]!r}; I will read the features.", "click[Features]"
        if missing and any(p not in known.features for p in missing):
            return (
                "The features do not mention everything I need; back to the results.",
                f"click[{PREV_PAGE}]",
            )
        for group, value in wish.options:
            if browser.options.get(group) != value:
                return f"I need {group}: {value}, so I select it.", f"click[{value}]"
        return "The product and its options match the instruction; I will buy it.", f"click[{BUY_NOW}]"
