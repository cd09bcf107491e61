"""WebShop's reward for a purchase (``web_agent_site/engine/goal.py``), term by term.

    score = r_type * (attributes matched + options matched + [price <= cap])
                   / (goal attributes + goal options + 1)

* **Attributes**: a goal attribute matches when its fuzzy token-set ratio with one of the
  product's attributes is above 85 (``rapidfuzz``, with thefuzz's processing and rounding, as
  WebShop's ``thefuzz`` call), else when it is a substring of the title, the bullet points or the
  description.
* **Options**: one point per goal option that the chosen options satisfy (AgentGym's direction,
  so the term never exceeds its weight), by fuzzy token-set ratio above 85 after WebShop's colour
  normalisation; options of a group named ``size`` must match exactly (WebShop's
  ``EXACT_MATCH_OPTS``: "x-small" and "small" share every token of "small").
* **Price**: 1 when the price is at most the goal's cap.
* **r_type** in {0, 0.1, 0.5, 1}: 1 when the bought product has the goal's query, or shares at
  least two category levels, or shares more than 20% of the title's nouns; 0.5 when none of these
  holds; 0.1 when under 10% of the nouns are shared; 0 when none is.

Deviation: WebShop finds a title's nouns with spaCy's ``en_core_web_lg`` tagger, which cannot be
installed here. Nouns are instead the title words that name products somewhere in the catalogue:
the words of every product's ``query`` and ``product_category`` levels (:func:`noun_vocabulary`).
On the generated shop these are exactly the product-type nouns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from agentgym_envs.registration import engine_imports

with engine_imports("WebShop"):
    from rapidfuzz import fuzz, utils

FUZZY_THRESHOLD = 85
EXACT_MATCH_OPTIONS = ("size",)
# WebShop's normalize_color reduces a colour to the first base colour it contains; the more
# specific names come first, so "navy blue" is navy, not blue.
BASE_COLORS = (
    "navy", "khaki", "beige", "ivory", "cream", "silver", "gold", "black", "white", "gray", "grey",
    "red", "pink", "purple", "blue", "green", "yellow", "orange", "brown", "tan",
)  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")
_NOT_NOUNS = frozenset("and or of for the a an with in to by s".split())


@dataclass(frozen=True)
class Goal:
    """What the shopper wants: WebShop's goal dict, as fields."""

    asin: str  # the product the goal was written from (never shown to the agent)
    instruction: str  # the text the agent reads
    query: str
    product_category: str
    name: str  # the target product's title
    attributes: tuple[str, ...]
    options: dict[str, str]  # option group -> wanted value
    price_upper: float  # 1e6 when the goal states no price


@dataclass(frozen=True)
class RewardParts:
    score: float
    r_type: float
    attributes_matched: int
    options_matched: int
    price_ok: bool


def fuzzy_ratio(a: str, b: str) -> int:
    """thefuzz's ``token_set_ratio``: lower-cased, punctuation stripped, rounded."""
    return round(fuzz.token_set_ratio(a, b, processor=utils.default_process))


def normalize_color(value: str) -> str:
    words = set(_WORD.findall(value.lower()))
    for color in BASE_COLORS:
        if color in words:
            return color
    return value


def singular(word: str) -> str:
    """A plural folded to its singular, enough to equate "bookcases" and "bookcase"."""
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def noun_vocabulary(products) -> frozenset[str]:
    """Words that name products in this catalogue (stand-in for spaCy's noun tags): every word
    of every product's query and category levels, folded to the singular."""
    words = set()
    for product in products:
        words.update(_WORD.findall(product.query.lower()))
        words.update(_WORD.findall(product.product_category.lower()))
    return frozenset(singular(w) for w in words if w not in _NOT_NOUNS and not w.isdigit())


@lru_cache(maxsize=65536)
def title_nouns(title: str, nouns: frozenset[str]) -> frozenset[str]:
    return frozenset(w for w in map(singular, _WORD.findall(title.lower())) if w in nouns)


def type_reward(product, goal: Goal, nouns: frozenset[str]) -> float:
    query_match = product.query == goal.query
    bought_levels = {level.strip() for level in product.product_category.split("›")}
    goal_levels = {level.strip() for level in goal.product_category.split("›")}
    category_match = len(bought_levels & goal_levels) >= 2
    wanted = title_nouns(goal.name, nouns)
    shared = title_nouns(product.title, nouns) & wanted
    title_score = len(shared) / len(wanted) if wanted else 0.2
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type


def attribute_matches(product, goal_attributes) -> int:
    texts = (product.title.lower(), " ".join(product.bullet_points).lower(), product.description.lower())
    matched = 0
    for wanted in goal_attributes:
        if any(fuzzy_ratio(have, wanted) > FUZZY_THRESHOLD for have in product.attributes):
            matched += 1
        elif any(wanted in text for text in texts):
            matched += 1
    return matched


def option_matches(goal_options: dict[str, str], chosen: dict[str, str]) -> int:
    chosen_values = {group: normalize_color(value) for group, value in chosen.items()}
    matched = 0
    for group, wanted in goal_options.items():
        if group.lower() in EXACT_MATCH_OPTIONS:
            matched += chosen.get(group) == wanted or wanted in chosen.values()
            continue
        wanted = normalize_color(wanted)
        matched += any(fuzzy_ratio(have, wanted) > FUZZY_THRESHOLD for have in chosen_values.values())
    return matched


def purchase_reward(product, goal: Goal, chosen: dict[str, str], nouns: frozenset[str]) -> RewardParts:
    """The score of buying ``product`` with the ``chosen`` options, for ``goal``."""
    r_type = type_reward(product, goal, nouns)
    attributes = attribute_matches(product, goal.attributes)
    options = option_matches(goal.options, chosen)
    price_ok = product.price <= goal.price_upper
    total = (attributes + options + price_ok) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardParts(round(r_type * total, 6), r_type, attributes, options, price_ok)
