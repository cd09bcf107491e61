"""The shop's pages as WebShop's text mode shows them, and what can be clicked on each.

WebShop renders HTML and its text env keeps the visible strings joined by `` [SEP] ``; these
functions write the same strings directly:

* search: ``WebShop [SEP] Instruction: [SEP] <goal> [SEP] Search``
* results: ``Instruction: [SEP] <goal> [SEP] Back to Search [SEP] Page 1 (Total results: 50)
  [SEP] Next > [SEP] <ASIN> [SEP] <title> [SEP] <price> ...`` (10 a page; ``< Prev`` after page 1)
* item: ``... [SEP] Back to Search [SEP] < Prev [SEP] <option group> [SEP] <value> ... [SEP]
  <title> [SEP] Price: <price> [SEP] Rating: <rating> [SEP] Description [SEP] Features [SEP]
  Reviews [SEP] Buy Now``
* description, features, reviews: ``... [SEP] Back to Search [SEP] < Prev [SEP] <content>``

:class:`Browser` is one shopping session's place in the shop; :func:`clickables` lists what the
current page lets the agent click, keyed by lower-case text as WebShop's ``text_to_clickable``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEP = " [SEP] "
PRODUCT_WINDOW = 10  # results per page, as WebShop
BACK_TO_SEARCH = "Back to Search"
NEXT_PAGE = "Next >"
PREV_PAGE = "< Prev"
BUY_NOW = "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")

SEARCH, RESULTS, ITEM, SUB, DONE = "search", "results", "item", "sub", "done"


@dataclass
class Browser:
    """Where one session is: the page, the last search and its hits, the product and options."""

    instruction: str
    page: str = SEARCH
    keywords: str = ""
    hits: list[int] = field(default_factory=list)  # catalogue positions, best first
    page_number: int = 1
    product: int | None = None  # catalogue position of the open product
    options: dict[str, str] = field(default_factory=dict)  # group -> chosen value
    sub_page: str = ""

    @property
    def last_page_number(self) -> int:
        return max(1, -(-len(self.hits) // PRODUCT_WINDOW))

    def hits_on_page(self) -> list[int]:
        start = (self.page_number - 1) * PRODUCT_WINDOW
        return self.hits[start : start + PRODUCT_WINDOW]


@dataclass(frozen=True)
class Clickable:
    kind: str  # "button", "product", "option"
    text: str  # as shown
    group: str = ""  # the option group, for options
    position: int = -1  # the catalogue position, for products


def _header(browser: Browser) -> list[str]:
    return ["Instruction:", browser.instruction, BACK_TO_SEARCH]


def render(browser: Browser, catalogue) -> str:
    """The current page's text."""
    if browser.page == SEARCH:
        return SEP.join(["WebShop", "Instruction:", browser.instruction, "Search"])
    if browser.page == RESULTS:
        return SEP.join(_results_texts(browser, catalogue))
    product = catalogue.products[browser.product]
    if browser.page == ITEM:
        return SEP.join(_item_texts(browser, product))
    if browser.page == SUB:
        return SEP.join(_header(browser) + [PREV_PAGE] + _sub_page_texts(browser.sub_page, product))
    raise ValueError(f"no text for page {browser.page!r}")


def _results_texts(browser: Browser, catalogue) -> list[str]:
    texts = _header(browser) + [f"Page {browser.page_number} (Total results: {len(browser.hits)})"]
    if browser.page_number > 1:
        texts.append(PREV_PAGE)
    if browser.page_number < browser.last_page_number:
        texts.append(NEXT_PAGE)
    for position in browser.hits_on_page():
        product = catalogue.products[position]
        texts += [product.asin, product.title, product.price_tag]
    return texts


def _item_texts(browser: Browser, product) -> list[str]:
    texts = _header(browser) + [PREV_PAGE]
    for group, values in product.options.items():
        texts.append(group)
        texts += values
    texts += [product.title, f"Price: {product.price_tag}", f"Rating: {product.rating}"]
    return texts + list(SUB_PAGES) + [BUY_NOW]


def _sub_page_texts(sub_page: str, product) -> list[str]:
    if sub_page == "Description":
        return [product.description or "(no description)"]
    if sub_page == "Features":
        return list(product.bullet_points) or ["(no features listed)"]
    reviews = [part for review in product.reviews for part in review]
    return reviews or ["(no reviews yet)"]


def clickables(browser: Browser, catalogue) -> dict[str, Clickable]:
    """What can be clicked now, by lower-case text (a click matches case-insensitively)."""
    found: list[Clickable] = []
    if browser.page == RESULTS:
        found.append(Clickable("button", BACK_TO_SEARCH))
        if browser.page_number > 1:
            found.append(Clickable("button", PREV_PAGE))
        if browser.page_number < browser.last_page_number:
            found.append(Clickable("button", NEXT_PAGE))
        for position in browser.hits_on_page():
            found.append(Clickable("product", catalogue.products[position].asin, position=position))
    elif browser.page == ITEM:
        buttons = (BACK_TO_SEARCH, PREV_PAGE, *SUB_PAGES, BUY_NOW)
        found += [Clickable("button", text) for text in buttons]
        for group, values in catalogue.products[browser.product].options.items():
            found += [Clickable("option", value, group=group) for value in values]
    elif browser.page == SUB:
        found += [Clickable("button", BACK_TO_SEARCH), Clickable("button", PREV_PAGE)]
    table: dict[str, Clickable] = {}
    for clickable in found:
        table.setdefault(clickable.text.lower(), clickable)  # buttons first: no option hides one
    return table
