"""WebShop: catalogue, goals, search and its cache, pages, reward terms, expert, WebShop's files."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import gymnasium as gym
import pytest
from helpers import solve

pytest.importorskip("tantivy")
pytest.importorskip("rapidfuzz")

import agentgym_envs  # noqa: E402,F401  (registers AgentGym/WebShop-v0)
from agentgym_envs.envs.webshop import search  # noqa: E402
from agentgym_envs.envs.webshop.catalogue import Product, generate_catalogue  # noqa: E402
from agentgym_envs.envs.webshop.goals import PRICE_RANGE, webshop_goals  # noqa: E402
from agentgym_envs.envs.webshop.reward import (  # noqa: E402
    EXACT_MATCH_OPTIONS,
    Goal,
    fuzzy_ratio,
    normalize_color,
    noun_vocabulary,
    purchase_reward,
    title_nouns,
)
from agentgym_envs.envs.webshop.vocabulary import CATEGORIES  # noqa: E402

ENV_ID = "AgentGym/WebShop-v0"
FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "webshop" / "items_ins_v2_1000.json"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    """One index folder for the module (never the user's cache)."""
    return tmp_path_factory.mktemp("webshop-index") / "index"


@pytest.fixture
def env(index_dir):
    env = gym.make(ENV_ID, split="test", index_dir=index_dir)
    yield env
    env.close()


def step(env, action):
    obs, reward, terminated, truncated, info = env.step(action)
    return obs, reward, terminated, info


def go_to_results(env, task_id=0, query="bar stool footrest ring"):
    env.reset(options={"task_id": task_id})
    return step(env, f"search[{query}]")


# ------------------------------------------------------------------------------ catalogue
def test_generated_catalogue_is_deterministic_and_grows_by_appending():
    small = generate_catalogue(200, seed=3)
    large = generate_catalogue(400, seed=3)
    assert [p.asin for p in small.products] == [p.asin for p in large.products[:200]]
    assert small.products[17] == large.products[17]
    assert len({p.asin for p in large.products}) == 400
    assert generate_catalogue(200, seed=4).products[0] != small.products[0]


def test_products_have_webshop_fields_and_show_their_attributes():
    catalogue = generate_catalogue(1000)
    assert {p.category for p in catalogue.products} == {c.name for c in CATEGORIES}
    for product in catalogue.products[:200]:
        assert " › " in product.product_category and product.query == product.query.lower()
        assert product.price_tag == f"${product.price:.2f}" and product.options
        features = " ".join(product.bullet_points).lower()
        assert all(attribute in features for attribute in product.attributes)
    # many products share a type and differ in attributes, options and price
    same_type = [p for p in catalogue.products if p.query == catalogue.products[0].query]
    assert len(same_type) >= 10
    assert len({p.attributes for p in same_type}) > len(same_type) // 2
    assert len({p.price for p in same_type}) > len(same_type) // 2


def test_vocabulary_attributes_and_options_are_told_apart_by_webshops_matcher():
    for category in CATEGORIES:
        for kind in category.types:
            attributes = category.attributes + kind.attributes
            for a, b in itertools.combinations(attributes, 2):
                assert fuzzy_ratio(a, b) <= 85, (a, b)
        for group, values in category.option_values.items():
            if group in EXACT_MATCH_OPTIONS:
                continue
            for a, b in itertools.combinations(values, 2):
                assert fuzzy_ratio(normalize_color(a), normalize_color(b)) <= 85, (group, a, b)


def test_every_product_type_has_a_title_noun():
    catalogue = generate_catalogue(1000)
    nouns = noun_vocabulary(catalogue.products)
    for category in CATEGORIES:
        for kind in category.types:
            assert title_nouns(kind.noun.title(), nouns), kind.noun


# ------------------------------------------------------------------------------ goals
def test_goals_follow_webshops_rule_and_test_products_never_train(index_dir):
    env = gym.make(ENV_ID, index_dir=index_dir).unwrapped
    catalogue = env.shop.catalogue
    test_asins, train_asins = set(), set()
    for task_id in range(env.splits.num_tasks):
        goal = env.shop.goal(task_id, task_id in env.splits.test)
        (test_asins if task_id in env.splits.test else train_asins).add(goal.asin)
        if task_id % 97:
            continue
        product = catalogue.by_asin(goal.asin)
        assert set(goal.attributes) <= set(product.attributes) and 1 <= len(goal.attributes) <= 3
        assert set(goal.options) == set(product.options)
        assert all(value in product.options[group] for group, value in goal.options.items())
        above = [p for p in PRICE_RANGE if p > product.price][:4]
        assert goal.price_upper in above[1:]
        assert goal.instruction.endswith(f", and price lower than {goal.price_upper:.2f} dollars")
        options = ", and ".join(f"{k}: {v}" for k, v in sorted(goal.options.items()))
        assert f" with {options}, and price" in goal.instruction
    assert not test_asins & train_asins
    assert len(test_asins) >= 90 and len(train_asins) >= 800


# ------------------------------------------------------------------------------ pages
def test_page_flow_and_paging(env):
    obs, info = env.reset(options={"task_id": 0})
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and obs.endswith(" [SEP] Search")
    assert info["available_actions"] == ["search[<your query>]"]

    obs, reward, done, info = step(env, "search[bar stool coffee table office chair]")
    parts = obs.split(" [SEP] ")
    assert parts[2:5] == ["Back to Search", "Page 1 (Total results: 50)", "Next >"]
    assert "< Prev" not in parts and len(parts) == 5 + 3 * 10 and reward == 0.0 and not done
    first_page = parts[5::3]
    assert (
        "click[Next >]" in info["available_actions"]
        and f"click[{first_page[0]}]" in info["available_actions"]
    )

    obs, *_ = step(env, "click[next >]")  # clicks match case-insensitively
    assert "Page 2 (Total results: 50)" in obs and "< Prev" in obs
    for _ in range(3):
        obs, *_ = step(env, "click[Next >]")
    assert "Page 5" in obs and "Next >" not in obs
    obs, *_ = step(env, "click[< Prev]")
    assert "Page 4" in obs

    obs, *_ = step(env, "click[< Prev]")
    obs, *_ = step(env, "click[< Prev]")
    obs, *_ = step(env, "click[< Prev]")
    assert "Page 1" in obs and obs.split(" [SEP] ")[5::3] == first_page

    asin = first_page[0]
    obs, _, _, info = step(env, f"click[{asin.lower()}]")
    product = env.unwrapped.shop.catalogue.by_asin(asin)
    parts = obs.split(" [SEP] ")
    assert parts[2:4] == ["Back to Search", "< Prev"] and product.title in parts
    assert parts[-4:] == ["Description", "Features", "Reviews", "Buy Now"]
    assert f"Price: {product.price_tag}" in parts
    group, values = next(iter(product.options.items()))
    assert parts[parts.index(group) + 1 : parts.index(group) + 1 + len(values)] == list(values)

    obs, *_ = step(env, "click[Features]")
    assert obs.split(" [SEP] ")[4:] == list(product.bullet_points)
    obs, *_ = step(env, "click[< Prev]")
    assert product.title in obs and "Buy Now" in obs
    obs, *_ = step(env, "click[Description]")
    assert obs.endswith(product.description)
    obs, *_ = step(env, "click[Back to Search]")
    assert obs.endswith(" [SEP] Search")


def test_buy_now_ends_the_episode_with_the_reward(env):
    go_to_results(env)
    _, action = env.unwrapped.expert()
    obs, *_ = step(env, action)
    obs, reward, done, info = step(env, "click[Buy Now]")
    assert done and obs.startswith("Thank you for shopping with us!")
    assert reward == info["score"] and f"{reward:.2f}" in obs
    assert info["available_actions"] == []


def test_two_envs_share_one_index_and_catalogue(index_dir):
    first = gym.make(ENV_ID, index_dir=index_dir).unwrapped
    second = gym.make(ENV_ID, split="test", index_dir=index_dir).unwrapped
    assert first.shop is second.shop and first.shop.index is second.shop.index
    assert first.shop.catalogue is generate_catalogue(1000)
    other = gym.make(ENV_ID, num_products=300, index_dir=index_dir.parent / "other").unwrapped
    assert other.shop.index is not first.shop.index and len(other.shop.catalogue) == 300


# ------------------------------------------------------------------------------ bad input
BAD_ACTIONS = [
    "buy the cheapest one",
    "search",
    "click[]",
    "jump[high]",
    "click[not a button]",
    "search[]",
    "search[   ]",
]


def test_bad_actions_are_explained_no_ops(env):
    env.reset(options={"task_id": 1})
    for action in BAD_ACTIONS:
        obs, reward, done, info = step(env, action)
        assert obs.startswith("Invalid action:") and reward == 0.0 and not done, action
        assert obs.endswith(" [SEP] Search")  # the page is shown again, unchanged
    step(env, "search[bar stool]")
    obs, *_ = step(env, "search[other things]")
    assert "no search bar" in obs and "Page 1" in obs
    obs, *_ = step(env, "click[Buy Now]")
    assert "not clickable" in obs


@pytest.mark.parametrize(
    "query",
    [
        "x" * 2000,
        'espresso AND walnut OR NOT (bar* stool) "quoted" title:rug +must -not ~2 ^3 {a TO b}',
        "é 漢字 🙂 café",
        "'; DROP TABLE products; --",
        ")))(((***:::",
        "and the of",  # only stop words: no hits
    ],
)
def test_search_takes_any_text(env, query):
    env.reset(options={"task_id": 2})
    obs, reward, done, info = step(env, f"search[{query}]")
    assert "Total results:" in obs and reward == 0.0 and not done
    assert obs in env.observation_space


def test_a_10kb_action_is_refused_with_a_reason(env):
    env.reset(options={"task_id": 2})
    obs, reward, done, _ = step(env, "search[" + "shoes " * 1700 + "]")
    assert "characters long" in obs and reward == 0.0 and not done


def test_missing_files_and_half_given_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="both"):
        gym.make(ENV_ID, products=tmp_path / "items.json")
    with pytest.raises(FileNotFoundError):
        gym.make(ENV_ID, products=tmp_path / "items.json", attributes=tmp_path / "ins.json")


# ------------------------------------------------------------------------------ search cache
def _fresh_index(catalogue, folder):
    search.forget_open_indexes()
    return search.open_index(catalogue, folder)


def test_index_is_cached_on_disk_and_damaged_caches_are_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    catalogue = generate_catalogue(300, seed=7)
    folder = search.default_folder(catalogue.fingerprint)
    assert str(folder).startswith(str(tmp_path / "cache" / "webshop"))
    expected = _fresh_index(catalogue, None).search("coffee table solid wood")
    assert expected and (folder / search.MANIFEST).exists()
    stamp = (folder / search.MANIFEST).stat().st_mtime_ns
    assert _fresh_index(catalogue, None).search("coffee table solid wood") == expected
    assert (folder / search.MANIFEST).stat().st_mtime_ns == stamp  # loaded, not rebuilt

    (folder / search.MANIFEST).unlink()  # half written: no manifest
    assert _fresh_index(catalogue, None).search("coffee table solid wood") == expected

    for path in folder.iterdir():  # damaged files under a good manifest (replaced, as another
        if path.name != search.MANIFEST and path.is_file():  # process would: ours are mapped)
            damaged = path.with_name(path.name + ".tmp")
            damaged.write_bytes(b"\x00garbage")
            damaged.replace(path)
    assert _fresh_index(catalogue, None).search("coffee table solid wood") == expected

    other = generate_catalogue(200, seed=8)  # another catalogue's index in this folder
    _fresh_index(other, folder)
    manifest = json.loads((folder / search.MANIFEST).read_text())
    assert manifest["fingerprint"] == other.fingerprint
    assert _fresh_index(catalogue, folder).search("coffee table solid wood") == expected
    assert json.loads((folder / search.MANIFEST).read_text())["fingerprint"] == catalogue.fingerprint
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_results_do_not_depend_on_the_index_layout(tmp_path):
    import tantivy

    catalogue = generate_catalogue(1000)
    texts = [p.search_text() for p in catalogue.products]
    results = []
    for threads, heap in ((1, 20 << 20), (2, 40 << 20)):  # different segment layouts
        folder = tmp_path / f"threads{threads}"
        folder.mkdir()
        search.build_index(folder, texts, num_threads=threads, heap_bytes=heap)
        index = search.SearchIndex(folder, tantivy.Index.open(str(folder)))
        results.append([index.search(q) for q in ("bar stool", "gray", "large 2 pack", "pack")])
    assert results[0] == results[1]


def test_search_returns_50_hits_best_first_with_the_target_near_the_top(index_dir):
    env = gym.make(ENV_ID, index_dir=index_dir).unwrapped
    catalogue = env.shop.catalogue
    found = 0
    for task_id in range(0, 200, 10):
        goal = env.shop.goal(task_id, True)
        hits = env.shop.search(goal.instruction)
        assert len(hits) == len(set(hits)) <= search.SEARCH_RETURN_N
        found += goal.asin in [catalogue.products[i].asin for i in hits]
    assert found >= 18
    assert search.tokens("Women's T-Shirts AND (Navy)") == ["women", "t", "shirts", "navy"]


# ------------------------------------------------------------------------------ reward
NOUNS = frozenset({"stool", "bar", "rug", "area", "chair"})


def stool(**changes) -> Product:
    fields = dict(
        asin="B0STOOL001",
        category="furniture",
        query="bar stools",
        product_category="Home & Kitchen › Furniture › Barstools",
        title="Acme Bar Stool - Swivel Seat",
        description="A sturdy stool.",
        bullet_points=("SWIVEL SEAT: turns all the way.",),
        price=45.0,
        price_tag="$45.00",
        options={"color": ("navy blue", "black"), "size": ("small", "x-small")},
        attributes=("swivel seat", "footrest ring"),
    )
    fields.update(changes)
    return Product(**fields)


GOAL = Goal(
    asin="B0STOOL001",
    instruction="i need a bar stool with swivel seat and footrest ring with color: navy, and size: small",
    query="bar stools",
    product_category="Home & Kitchen › Furniture › Barstools",
    name="Acme Bar Stool - Swivel Seat",
    attributes=("swivel seat", "footrest ring"),
    options={"color": "navy", "size": "small"},
    price_upper=50.0,
)
RIGHT_OPTIONS = {"color": "navy blue", "size": "small"}


def test_reward_full_match_is_one():
    parts = purchase_reward(stool(), GOAL, RIGHT_OPTIONS, NOUNS)
    assert (parts.score, parts.r_type, parts.attributes_matched, parts.options_matched) == (1.0, 1.0, 2, 2)


def test_reward_partial_credit_for_a_missing_attribute():
    parts = purchase_reward(stool(attributes=("swivel seat",)), GOAL, RIGHT_OPTIONS, NOUNS)
    assert parts.attributes_matched == 1 and parts.score == pytest.approx(4 / 5)


def test_reward_attribute_found_only_in_the_description():
    product = stool(attributes=("swivel seat",), description="Comes with a chrome footrest ring.")
    assert purchase_reward(product, GOAL, RIGHT_OPTIONS, NOUNS).score == 1.0


def test_reward_attribute_matched_fuzzily():
    product = stool(attributes=("swivel seat", "chrome footrest ring"))  # token set contains the goal's
    assert purchase_reward(product, GOAL, RIGHT_OPTIONS, NOUNS).attributes_matched == 2


def test_reward_over_the_price_cap_loses_the_price_point():
    parts = purchase_reward(stool(price=55.0, price_tag="$55.00"), GOAL, RIGHT_OPTIONS, NOUNS)
    assert not parts.price_ok and parts.score == pytest.approx(4 / 5)


def test_reward_missing_and_wrong_options():
    assert purchase_reward(stool(), GOAL, {"color": "navy blue"}, NOUNS).score == pytest.approx(4 / 5)
    # sizes match exactly: "x-small" is not "small" though its tokens contain it
    wrong = purchase_reward(stool(), GOAL, {"color": "black", "size": "x-small"}, NOUNS)
    assert wrong.options_matched == 0 and wrong.score == pytest.approx(3 / 5)


def test_reward_wrong_type_scores_zero_and_near_types_are_scaled():
    rug = stool(
        query="area rug",
        product_category="Home & Kitchen › Home Décor Products › Area Rugs",
        title="Acme Area Rug - Swivel Seat, Footrest Ring",
    )
    assert purchase_reward(rug, GOAL, RIGHT_OPTIONS, NOUNS).r_type == 0.0
    # same query and category, but the title shares one noun of two (> 20%): still type 1
    chair = stool(title="Acme Bar Chair - Swivel Seat, Footrest Ring")
    assert purchase_reward(chair, GOAL, RIGHT_OPTIONS, NOUNS).r_type == 1.0
    # no query or category match: 1 of 2 title nouns (> 20%) keeps r_type 1, 1 of 5 gives 0.5
    loose = stool(query="chairs", product_category="Office › Chairs", title="Acme Stool")
    assert purchase_reward(loose, GOAL, RIGHT_OPTIONS, NOUNS).r_type == 1.0
    many = Goal(**{**GOAL.__dict__, "name": "Acme Bar Stool Chair Rug Area"})
    assert purchase_reward(loose, many, RIGHT_OPTIONS, NOUNS).r_type == 0.5


# ------------------------------------------------------------------------------ expert
def test_expert_solves_at_least_95_percent_of_test_goals(index_dir):
    env = gym.make(ENV_ID, split="test", index_dir=index_dir)
    task_ids = env.unwrapped.task_ids("test")
    solved = sum(solve(env, task_id)[0]["success"] for task_id in task_ids)
    assert solved >= 0.95 * len(task_ids)


def test_expert_thoughts_say_why_and_it_reads_only_pages(env):
    env.reset(options={"task_id": 5})
    thought, action = env.unwrapped.expert()
    assert action.startswith("search[") and "search" in thought
    goal_asin = env.unwrapped.goal.asin
    env.unwrapped.goal = Goal(**{**env.unwrapped.goal.__dict__, "asin": "B0HIDDEN00", "name": "?"})
    info, _ = solve_current(env)
    assert info["success"] and goal_asin  # the hidden target changed, the expert did not care


def solve_current(env):
    rounds = 0
    while True:
        _, action = env.unwrapped.expert()
        _, _, terminated, truncated, info = env.step(action)
        rounds += 1
        if terminated or truncated:
            return info, rounds


# ------------------------------------------------------------------------------ WebShop's files
needs_fixture = pytest.mark.skipif(
    not FIXTURE.exists(), reason=f"WebShop's attribute file is not at {FIXTURE} (../shared is absent)"
)


def write_product_file(path: Path, attributes: dict, count: int) -> list[str]:
    """A products file in WebShop's scraped schema for ``count`` ASINs that have instructions,
    plus rows WebShop's loader skips (an 'nan' ASIN, a duplicate)."""
    asins = [asin for asin, entry in attributes.items() if entry.get("instruction")][:count]
    rows = []
    for n, asin in enumerate(asins):
        need = attributes[asin]["instruction"].removeprefix("Find me ")
        rows.append(
            {
                "asin": asin,
                "category": "beauty",
                "query": need.split(" with ")[0].split(" for ")[0],
                "name": f"Brand{n} " + need.title(),
                "full_description": "A product for the test.",
                "small_description": [f"Made with {a}." for a in attributes[asin]["attributes"]],
                "pricing": f"${5 + n % 40}.99" if n % 5 else f"${8 + n % 7}.50${20 + n % 7}.50",
                "customization_options": {
                    "Color": [{"value": "Navy Blue", "image": None}, {"value": "Black", "image": None}],
                    "Size": [{"value": "Small"}, {"value": "3.4 Fl Oz/100 ml"}],
                }
                if n % 3
                else None,
                "product_category": "Beauty & Personal Care › Skin Care › Body",
                "images": ["https://example.invalid/a.jpg"],
            }
        )
    rows.append(dict(rows[0]))  # a repeated ASIN
    rows.append({**rows[1], "asin": "nan"})
    path.write_text(json.dumps(rows))
    return asins


def webshop_order(products: list[dict], attributes: dict) -> list[tuple[str, str]]:
    """WebShop + AgentGym's goal order written out with the global generator, as they do it."""
    random.seed(233)
    goals = []
    seen = set()
    for row in products:
        if (
            row["asin"] in seen
            or row["asin"] == "nan"
            or "instruction" not in attributes.get(row["asin"], {})
        ):
            continue
        seen.add(row["asin"])
        price = float(row["pricing"].split("$")[1])
        if row["pricing"].count("$") > 1:
            price = random_range_price(row)
        above = [p for p in PRICE_RANGE if p > price][:4]
        text = ""
        if len(above) >= 2:
            _, cap = sorted(random.sample(above, 2))
            text = f", and price lower than {cap:.2f} dollars"
        options = row["customization_options"] or {}
        names = sorted(k.lower() for k in options)
        values = [[v["value"].strip().replace("/", " | ").lower() for v in options[k.title()]] for k in names]
        for combo in itertools.product(*values):
            opt = ", and ".join(f"{k}: {v}" for k, v in zip(names, combo))
            instruction = attributes[row["asin"]]["instruction"] + (f" with {opt}" if opt else "") + text
            goals.append((row["asin"], instruction))
    random.seed(233)
    random.shuffle(goals)
    return goals


def random_range_price(row):
    low, high = (float(x) for x in row["pricing"].split("$")[1:])
    return random.Random(row["asin"]).uniform(low, high)


@needs_fixture
def test_webshop_files_give_agentgyms_goals_in_agentgyms_order(tmp_path):
    attributes = json.loads(FIXTURE.read_text())
    products_path = tmp_path / "items_shuffle_30.json"
    asins = write_product_file(products_path, attributes, 30)
    env = gym.make(
        ENV_ID, split="test", products=products_path, attributes=FIXTURE, index_dir=tmp_path / "index"
    )
    shop = env.unwrapped.shop
    assert len(shop.catalogue) == 30 and shop.catalogue.source == "webshop"
    rows = json.loads(products_path.read_text())
    state = random.getstate()
    try:
        expected = webshop_order(rows, attributes)
    finally:
        random.setstate(state)
    goals = webshop_goals(shop.catalogue)
    assert [(g.asin, g.instruction) for g in goals] == expected
    obs, info = env.reset(options={"task_id": 7})
    assert info["item_id"] == "webshop_7" and goals[7].instruction in obs
    assert set(goals[7].attributes) == set(attributes[goals[7].asin]["instruction_attributes"])
    product = shop.catalogue.by_asin(asins[1])
    assert product.options["size"] == ("small", "3.4 fl oz | 100 ml")  # WebShop's option cleaning
    assert product.attributes == tuple(attributes[asins[1]]["attributes"])

    solved = sum(solve(env, task_id)[0]["success"] for task_id in range(20))
    assert solved >= 15
