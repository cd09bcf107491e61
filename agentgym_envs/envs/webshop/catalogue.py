"""Products: generated from a seed, or read from WebShop's own files.

A :class:`Product` holds what WebShop's ``load_products`` keeps of a scraped product: ``asin``,
``category``, ``query``, ``product_category`` (levels joined by `` › ``), the title (WebShop's
``name``), ``full_description``, the ``small_description`` bullet points (WebShop's "Features"),
the price, the ``customization_options`` as option groups, the attributes and a rating.

:func:`generate_catalogue` draws products from :mod:`.vocabulary` with one seeded generator, one
product after another, so the first 1,000 products of a 1,000,000-product catalogue are the
1,000-product catalogue. Every product's attributes are written in its bullet points, and all but
sometimes one in its title, so an agent can check them on the pages as it would on WebShop.

:func:`load_webshop_files` reads WebShop's ``items_shuffle*.json`` (products) and
``items_ins_v2*.json`` (attributes and synthetic instructions) as WebShop does.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from agentgym_envs.envs.webshop.vocabulary import (
    BRAND_HEADS,
    BRAND_MIDDLES,
    BRAND_TAILS,
    CATEGORIES,
    DESCRIPTION_SENTENCES,
    REVIEW_LINES,
    Category,
    ProductType,
)

CATEGORY_SEPARATOR = " › "
DEFAULT_NUM_PRODUCTS = 1000  # AgentGym serves WebShop's 1,000-product set
DEFAULT_SEED = 0
# Bumped whenever generation changes, so cached search indexes of older catalogues are rebuilt.
GENERATOR_VERSION = 3
# Share of generated products whose last attribute appears in the bullet points only, so the
# title alone does not always tell (the agent must open "Features").
FEATURE_ONLY_SHARE = 0.3
_ASIN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASIN_MULTIPLIER = 1_000_003  # coprime with 36**8: i -> asin is one-to-one


@dataclass
class Product:
    asin: str
    category: str
    query: str
    product_category: str
    title: str
    description: str
    bullet_points: tuple[str, ...]
    price: float  # the price the reward compares with the goal's cap
    price_tag: str  # as the pages show it: "$12.99" or "$12.99 to $15.99"
    options: dict[str, tuple[str, ...]]  # option group -> values, lower case
    attributes: tuple[str, ...]
    rating: str = "N.A."
    reviews: tuple[tuple[str, str, str], ...] = ()  # (title, score, body)
    # From WebShop's attribute file: the synthetic instruction written for this product.
    instruction: str | None = None
    instruction_attributes: tuple[str, ...] = ()

    def search_text(self) -> str:
        """What the search engine indexes: title, attributes, features, description and the
        option values (WebShop's index holds the options too)."""
        options = " ".join(" ".join(values) for values in self.options.values())
        parts = (
            self.title,
            " ".join(self.attributes),
            " ".join(self.bullet_points),
            self.description,
            options,
        )
        return " ".join(parts)


@dataclass
class Catalogue:
    products: list[Product]
    fingerprint: str  # names this exact product list (search index caches are keyed by it)
    source: str  # "generated" or "webshop"
    seed: int = DEFAULT_SEED
    index_of: dict[str, int] = field(default_factory=dict)  # asin -> position

    def __post_init__(self):
        if not self.index_of:
            self.index_of = {p.asin: i for i, p in enumerate(self.products)}

    def __len__(self) -> int:
        return len(self.products)

    def by_asin(self, asin: str) -> Product | None:
        position = self.index_of.get(asin.upper())
        return None if position is None else self.products[position]


# ------------------------------------------------------------------------------ generation
def asin_for(index: int, seed: int) -> str:
    """A WebShop-looking ASIN ("B0" + 8 characters), distinct for every index of a seed."""
    number = ((index + 1) * _ASIN_MULTIPLIER + seed * 7_919) % 36**8
    chars = []
    for _ in range(8):
        number, digit = divmod(number, 36)
        chars.append(_ASIN_ALPHABET[digit])
    return "B0" + "".join(reversed(chars))


def _brand(rng: random.Random) -> str:
    name = rng.choice(BRAND_HEADS) + rng.choice(BRAND_MIDDLES) + rng.choice(BRAND_TAILS)
    return name.capitalize()


def _price(rng: random.Random, band: tuple[float, float]) -> float:
    low, high = band
    dollars = math.exp(rng.uniform(math.log(low), math.log(high)))
    return math.floor(dollars) + rng.choice((0.99, 0.49, 0.95))


def _pick_options(rng: random.Random, kind: ProductType, category: Category) -> dict[str, tuple[str, ...]]:
    options = {}
    for group in kind.options:
        pool = category.option_values[group]
        chosen = set(rng.sample(pool, rng.randint(3, min(6, len(pool)))))
        options[group] = tuple(value for value in pool if value in chosen)  # the shop's own order
    return options


def _pick_attributes(rng: random.Random, kind: ProductType, category: Category) -> tuple[str, ...]:
    own = rng.sample(kind.attributes, rng.randint(1, len(kind.attributes)))
    shared = rng.sample(category.attributes, rng.randint(1, 3))
    return tuple(own + shared)


def _title(brand: str, kind: ProductType, shown: tuple[str, ...]) -> str:
    words = ", ".join(attribute.title() for attribute in shown)
    return f"{brand} {kind.noun.title()} - {words}" if words else f"{brand} {kind.noun.title()}"


def _bullet_points(rng: random.Random, kind: ProductType, attributes: tuple[str, ...]) -> tuple[str, ...]:
    lines = [f"{attribute.upper()}: a {kind.noun} with {attribute}." for attribute in attributes]
    lines.append(f"WHAT YOU GET: one {kind.noun} and our friendly customer service.")
    rng.shuffle(lines)
    return tuple(lines)


def _description(rng: random.Random, brand: str, kind: ProductType) -> str:
    sentences = rng.sample(DESCRIPTION_SENTENCES, 2)
    return " ".join(s.format(brand=brand, noun=kind.noun) for s in sentences)


def _reviews(rng: random.Random) -> tuple[tuple[str, str, str], ...]:
    picked = rng.sample(REVIEW_LINES, rng.randint(0, 2))
    return tuple((title, str(rng.randint(3, 5)), body) for title, body in picked)


def generate_product(rng: random.Random, index: int, seed: int) -> Product:
    category = CATEGORIES[rng.randrange(len(CATEGORIES))]
    kind = category.types[rng.randrange(len(category.types))]
    brand = _brand(rng)
    attributes = _pick_attributes(rng, kind, category)
    shown = attributes[:-1] if len(attributes) > 1 and rng.random() < FEATURE_ONLY_SHARE else attributes
    price = _price(rng, kind.price)
    rating = f"{rng.uniform(3.0, 5.0):.1f}" if rng.random() < 0.8 else "N.A."
    return Product(
        asin=asin_for(index, seed),
        category=category.name,
        query=kind.query,
        product_category=CATEGORY_SEPARATOR.join((category.root, *kind.path)),
        title=_title(brand, kind, shown),
        description=_description(rng, brand, kind),
        bullet_points=_bullet_points(rng, kind, attributes),
        price=price,
        price_tag=f"${price:.2f}",
        options=_pick_options(rng, kind, category),
        attributes=attributes,
        rating=rating,
        reviews=_reviews(rng),
    )


def iter_generated(num_products: int, seed: int = DEFAULT_SEED):
    """Products one at a time (benchmarks index a million without holding them all)."""
    rng = random.Random(f"webshop-catalogue-{seed}")
    for index in range(num_products):
        yield generate_product(rng, index, seed)


def generate_catalogue(num_products: int = DEFAULT_NUM_PRODUCTS, seed: int = DEFAULT_SEED) -> Catalogue:
    """The generated shop; cached, so every env of a process shares one."""
    return _generate_catalogue(int(num_products), int(seed))


@lru_cache(maxsize=4)
def _generate_catalogue(num_products: int, seed: int) -> Catalogue:
    if num_products < 20:
        raise ValueError(f"num_products must be at least 20, got {num_products}")
    products = list(iter_generated(num_products, seed))
    fingerprint = f"generated-v{GENERATOR_VERSION}-seed{seed}-n{num_products}"
    return Catalogue(products, fingerprint, "generated", seed)


# ------------------------------------------------------------------------------ WebShop's files
def _parse_pricing(pricing) -> tuple[list[float], str]:
    """WebShop's rule: "$12.99" or "$12.99$15.99" (a range); missing means $100."""
    if not pricing:
        return [100.0], "$100.0"
    if isinstance(pricing, list):  # already parsed (an items file written by WebShop's loader)
        values = [float(v) for v in pricing][:2]
    else:
        values = [float(Decimal(re.sub(r"[^\d.]", "", part))) for part in str(pricing).split("$")[1:]]
        values = values[:2] or [100.0]
    tag = f"${values[0]}" if len(values) == 1 else f"${values[0]} to ${values[1]}"
    return values, tag


def _parse_options(customization) -> dict[str, tuple[str, ...]]:
    options = {}
    for name, contents in (customization or {}).items():
        if contents is None:
            continue
        values = [str(c["value"]).strip().replace("/", " | ").lower() for c in contents if c.get("value")]
        if values:
            options[name.lower()] = tuple(values)
    return options


def _file_fingerprint(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "webshop-" + digest.hexdigest()[:16]


def load_webshop_files(
    products_path: str | Path, attributes_path: str | Path, num_products: int | None = None
) -> Catalogue:
    """WebShop's products and attribute files, read as WebShop's ``load_products`` reads them:
    the first ``num_products`` entries, ASINs that are 'nan', longer than 10 characters or
    repeated are skipped, option values lower-cased with '/' written ' | '.

    A product range "$a to $b" is priced at a value drawn uniformly from it, as WebShop does, but
    from a generator seeded by the ASIN, so the price (and so the reward) is the same every run.
    """
    products_path, attributes_path = Path(products_path), Path(attributes_path)
    with open(products_path) as handle:
        raw_products = json.load(handle)
    with open(attributes_path) as handle:
        attributes = json.load(handle)
    if num_products is not None:
        raw_products = raw_products[:num_products]
    products, seen = [], set()
    for raw in raw_products:
        asin = str(raw.get("asin", ""))
        if asin == "nan" or not asin or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        products.append(_product_from_file(raw, attributes.get(asin, {})))
    fingerprint = _file_fingerprint(products_path, attributes_path) + f"-n{num_products}"
    return Catalogue(products, fingerprint, "webshop")


def _product_from_file(raw: dict, entry: dict) -> Product:
    values, tag = _parse_pricing(raw.get("pricing"))
    price = values[0] if len(values) == 1 else random.Random(raw["asin"]).uniform(*values)
    bullets = raw.get("small_description") or []
    bullets = bullets if isinstance(bullets, list) else [bullets]
    return Product(
        asin=raw["asin"],
        category=raw.get("category", ""),
        query=str(raw.get("query", "")).lower().strip(),
        product_category=raw.get("product_category", ""),
        title=raw.get("name", ""),
        description=raw.get("full_description") or "",
        bullet_points=tuple(str(b) for b in bullets),
        price=price,
        price_tag=tag,
        options=_parse_options(raw.get("customization_options")),
        # WebShop's placeholder when the attribute file has no entry for the product
        attributes=tuple(entry["attributes"]) if "attributes" in entry else ("DUMMY_ATTR",),
        rating=str(raw.get("average_rating", "N.A.")),
        instruction=entry.get("instruction"),
        instruction_attributes=tuple(entry.get("instruction_attributes") or ()),
    )
