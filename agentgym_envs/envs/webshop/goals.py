"""Shopping goals, built by WebShop's synthetic-goal rule (``get_synthetic_goals``).

A goal is one product, some of its attributes, one value of each of its option groups and a price
cap: the cap is the larger of two values drawn from the first four multiples of $10 above the
price (WebShop's ``PRICE_RANGE`` rule; no cap when fewer than two exist). The text reads as
WebShop's: "<instruction> with color: navy, and size: x-large, and price lower than 50.00 dollars".

* **Generated shop**: each task id is one goal. Test goals (AgentEval) are written from every
  tenth product only, training goals from the others, so no product behind a test goal is ever
  behind a training goal. The instruction is phrased by a few templates in WebShop's style.
* **WebShop's files**: every option combination of every product with a synthetic instruction is
  a goal, prices drawn from ``random.Random(233)`` and the list shuffled with a second
  ``random.Random(233)``: AgentGym's order, so task id n is AgentGym's ``webshop_<n>`` goal.
  When the files hold fewer goals than task ids, ids wrap around.
"""

from __future__ import annotations

import itertools
import random

from agentgym_envs.envs.webshop.reward import Goal

PRICE_RANGE = [10.0 * i for i in range(1, 100)]  # WebShop's caps: $10 ... $990
NO_CAP = 1_000_000.0
TEST_PRODUCT_EVERY = 10  # test goals come from products 0, 10, 20, ...
_TEMPLATES = (
    "i am looking for a {noun} with {attrs}",
    "i need a {noun} with {attrs}",
    "find me a {noun} with {attrs}",
    "i want to buy a {noun} with {attrs}",
    "i'd like a {noun} with {attrs}",
)


def price_cap(rng: random.Random, price: float) -> tuple[float, str]:
    """WebShop's rule: (cap, the text appended to the instruction)."""
    candidates = [p for p in PRICE_RANGE if p > price][:4]
    if len(candidates) < 2:
        return NO_CAP, ""
    _, cap = sorted(rng.sample(candidates, 2))
    return cap, f", and price lower than {cap:.2f} dollars"


def options_text(options: dict[str, str]) -> str:
    """WebShop's phrasing of the wanted options, groups in sorted order."""
    text = ", and ".join(f"{name}: {value}" for name, value in options.items())
    return f" with {text}" if text else ""


def _join_attributes(attributes: list[str]) -> str:
    if len(attributes) == 1:
        return attributes[0]
    return ", ".join(attributes[:-1]) + " and " + attributes[-1]


def _noun_of(product) -> str:
    """The type noun of a generated product: its title between the brand and the dash."""
    return product.title.split(" - ")[0].split(" ", 1)[1].lower()


# ------------------------------------------------------------------------------ generated shop
def goal_products(catalogue, test: bool) -> list[int]:
    """Positions of the products that test (or training) goals are written from."""
    return [
        i for i, p in enumerate(catalogue.products) if (i % TEST_PRODUCT_EVERY == 0) == test and p.attributes
    ]


def generated_goal(catalogue, task_id: int, test: bool, pool: list[int]) -> Goal:
    """Goal ``task_id`` of the generated shop, drawn from its own seeded generator."""
    rng = random.Random(f"webshop-goal-{catalogue.fingerprint}-{task_id}")
    position = pool[task_id % len(pool)] if test else pool[rng.randrange(len(pool))]
    return goal_for_product(catalogue.products[position], rng)


def goal_for_product(product, rng: random.Random) -> Goal:
    """A goal written from ``product``: 1-3 of its attributes, one value per option group and
    WebShop's price cap, phrased by one of a few templates."""
    wanted = rng.sample(product.attributes, rng.randint(1, min(3, len(product.attributes))))
    options = {name: rng.choice(values) for name, values in sorted(product.options.items())}
    cap, cap_text = price_cap(rng, product.price)
    template = rng.choice(_TEMPLATES)
    text = template.format(noun=_noun_of(product), attrs=_join_attributes(wanted))
    return Goal(
        asin=product.asin,
        instruction=f"{text}{options_text(options)}{cap_text}",
        query=product.query,
        product_category=product.product_category,
        name=product.title,
        attributes=tuple(wanted),
        options=options,
        price_upper=cap,
    )


# ------------------------------------------------------------------------------ WebShop's files
def webshop_goals(catalogue) -> list[Goal]:
    """Every synthetic goal of WebShop's files, in AgentGym's order."""
    rng = random.Random(233)  # get_synthetic_goals seeds the global generator with 233
    goals = []
    for product in catalogue.products:
        if product.instruction is None:
            continue
        cap, cap_text = price_cap(rng, product.price)
        names = sorted(product.options)
        for combination in itertools.product(*(product.options[name] for name in names)):
            options = dict(zip(names, combination))
            goals.append(
                Goal(
                    asin=product.asin,
                    instruction=f"{product.instruction}{options_text(options)}{cap_text}",
                    query=product.query,
                    product_category=product.product_category,
                    name=product.title,
                    attributes=product.instruction_attributes,
                    options=options,
                    price_upper=cap,
                )
            )
    random.Random(233).shuffle(goals)  # SimServer: random.seed(233); random.shuffle(goals)
    return goals
