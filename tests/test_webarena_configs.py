"""WebArena's own task configs on a user's sites: reading them, the placeholders, refusals, the
812 shipped tasks (libwebarena's test.raw.json), program_html's helpers, WebArena's auto-login.

Nothing here can reach WebArena's real sites; the browser tests put the generated sites (a
SiteServer) behind the addresses a user would give, with configs written in WebArena's format."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import gymnasium as gym
import pytest

import agentgym_envs  # noqa: F401 - registers the ids
from agentgym_envs.envs.webarena import evaluators
from agentgym_envs.envs.webarena.pages import product_url
from agentgym_envs.envs.webarena.sites import SITE_NAMES, generate_world
from agentgym_envs.envs.webarena.webarena_configs import (
    BROWSER_EVALS,
    PAGE,
    SITES,
    MagentoAdmin,
    gitlab_member_role_script,
    libwebarena_tasks_file,
    load_webarena_configs,
    login_sites,
    needed_sites,
    parse_helper,
    read_configs,
    reddit_post_url,
    resolve_program_html,
)

ALL_SITES = {site: f"http://{site.replace('_', '-')}.example:{7000 + k}" for k, site in enumerate(SITES)}
NEEDS_LIBWEBARENA = (
    "WebArena's task file needs the module 'webarena' (libwebarena): pip install --no-deps libwebarena"
)


def webarena_config(task_id: int = 0, **changes) -> dict:
    """A config in the exact shape of test.raw.json's (all its keys), to be changed per test."""
    config = {
        "sites": ["shopping"],
        "task_id": task_id,
        "require_login": True,
        "storage_state": "./.auth/shopping_state.json",
        "start_url": "__SHOPPING__",
        "geolocation": None,
        "intent_template": "What is the price of {{product}}",
        "instantiation_dict": {"product": "the kettle"},
        "intent": "What is the price of the kettle",
        "require_reset": False,
        "eval": {
            "eval_types": ["string_match"],
            "reference_answers": {"must_include": ["12.00"]},
            "reference_url": "",
            "program_html": [],
            "string_note": "",
            "reference_answer_raw_annotation": "$12.00",
        },
        "intent_template_id": 1,
    }
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def shipped() -> list[dict]:
    path = libwebarena_tasks_file()
    if path is None:
        pytest.skip(NEEDS_LIBWEBARENA)
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------ the 812 tasks
def test_all_812_shipped_configs_parse_with_every_site_given(shipped):
    configs = load_webarena_configs("test.raw.json", ALL_SITES, BROWSER_EVALS)
    assert sorted(configs) == list(range(812)) and not configs.refused
    text = json.dumps(list(configs.values()))
    assert not re.search(r"__[A-Z_]+__", text.replace("__page__", "").replace("__last_url__", ""))
    assert configs[0]["start_url"] == ALL_SITES["shopping_admin"]  # __SHOPPING_ADMIN__ is not __SHOPPING__
    judged_by_url = [c for c in configs.values() if "url_match" in c["eval"]["eval_types"]]
    assert len(judged_by_url) == 205 and all(c["eval"]["url_note"] == "GOLD in PRED" for c in judged_by_url)
    for config in configs.values():  # every func: helper is one we run, with literal arguments
        for target in config["eval"]["program_html"]:
            for field in ("url", "locator"):
                if target[field].startswith("func:"):
                    parse_helper(target[field])


def test_the_shipped_tasks_survey(shipped):
    """What WebArena's 812 configs hold, as README reports it."""
    placeholders = Counter(m for c in shipped for m in set(re.findall(r"__(?:[A-Z]+_?)+__", json.dumps(c))))
    assert placeholders == {
        "__GITLAB__": 204,
        "__SHOPPING__": 192,
        "__SHOPPING_ADMIN__": 182,
        "__MAP__": 128,
        "__REDDIT__": 128,
    }  # no __WIKIPEDIA__ or __HOMEPAGE__: Wikipedia is named only in `sites` (so are 3 others)
    per_site = Counter(site for c in shipped for site in needed_sites(c))
    assert per_site == {
        "gitlab": 204,
        "shopping": 192,
        "shopping_admin": 184,
        "reddit": 129,
        "map": 128,
        "wikipedia": 23,
    }
    assert Counter(" + ".join(c["eval"]["eval_types"]) for c in shipped) == {
        "string_match": 325,
        "program_html": 282,
        "url_match + program_html": 129,
        "url_match": 66,
        "string_match + url_match": 10,
    }
    answers = Counter(kind for c in shipped for kind in c["eval"]["reference_answers"] or ())
    assert answers == {"must_include": 176, "fuzzy_match": 118, "exact_match": 45}
    assert sum((c["eval"]["reference_answers"] or {}).get("fuzzy_match") == "N/A" for c in shipped) == 36
    targets = [t for c in shipped for t in c["eval"]["program_html"]]
    assert len(targets) == 651

    def kind(value: str) -> str:
        if value.startswith("func:"):
            return parse_helper(value)[0]
        if value.startswith("__"):
            return value.split("/")[0]  # an address on one site
        if value.startswith("[...document."):
            return "[...document."
        return value if value == "last" else "empty" if not value.strip() else value.split(".")[0]

    assert Counter(kind(t["url"]) for t in targets) == {
        "last": 238,
        "__GITLAB__": 132,
        "__SHOPPING_ADMIN__": 90,
        "__REDDIT__": 85,
        "__SHOPPING__": 31,
        "reddit_get_post_url": 65,
        "shopping_get_latest_order_url": 10,
    }
    assert Counter(kind(t["locator"]) for t in targets) == {
        "document": 519,
        "empty": 105,
        "[...document.": 5,
        "gitlab_get_project_memeber_role": 12,
        "shopping_get_sku_latest_review_author": 5,
        "shopping_get_sku_latest_review_rating": 5,
    }
    assert Counter(k for t in targets for k in t["required_contents"]) == {
        "must_include": 463,
        "exact_match": 188,
    }
    assert sum("prep_actions" in t for t in targets) == 10
    assert Counter(login_sites(c) for c in shipped) == {
        ("shopping",): 187,
        ("gitlab",): 186,
        ("shopping_admin",): 182,
        (): 128,
        ("reddit",): 111,
        ("gitlab", "reddit"): 18,
    }
    assert all(c["require_login"] and not c["require_reset"] and c["geolocation"] is None for c in shipped)
    assert sum(" |AND| " in c["start_url"] for c in shipped) == 5  # several tabs at the start


def test_shipped_tasks_a_user_cannot_play_are_refused_naming_the_site(shipped):
    shop_only = load_webarena_configs(
        "test.raw.json", {"shopping": "http://shop.example:7770"}, BROWSER_EVALS
    )
    assert len(shop_only) == 187 and len(shop_only.refused) == 812 - 187
    assert all(c["sites"] == ["shopping"] for c in shop_only.values())
    with pytest.raises(
        ValueError, match=r"task 0 needs the sites \['shopping_admin'\].*gives \['shopping'\]"
    ):
        shop_only.config(0)
    assert "['map', 'wikipedia']" in shop_only.refused[97]
    text_backend = load_webarena_configs("test.raw.json")  # generated sites, no program_html
    assert len(text_backend) == 211
    assert "program_html" in text_backend.refused[118] and "backend='browser'" in text_backend.refused[118]


# ------------------------------------------------------------------------------ reading configs
def test_configs_are_read_from_a_list_one_config_a_file_or_a_folder(tmp_path):
    configs = [webarena_config(3), webarena_config(11)]
    (tmp_path / "all.json").write_text(json.dumps(configs))
    (tmp_path / "one.json").write_text(json.dumps(configs[0]))
    folder = tmp_path / "config_files"
    folder.mkdir()
    for config in configs:
        (folder / f"{config['task_id']}.json").write_text(json.dumps(config))
    (folder / "test.raw.json").write_text(json.dumps([webarena_config(99)]))  # WebArena keeps it there too
    for given in (configs, tmp_path / "all.json", str(folder)):
        assert [c["task_id"] for c in read_configs(given)] == [3, 11]
    assert [c["task_id"] for c in read_configs(tmp_path / "one.json")] == [3]
    assert [c["task_id"] for c in read_configs(configs[1])] == [11]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no WebArena config files"):
        read_configs(tmp_path / "empty")


def test_placeholders_are_replaced_everywhere_and_item_ids_are_task_ids():
    config = webarena_config(
        42,
        sites=["shopping_admin", "reddit"],
        start_url="__SHOPPING_ADMIN__/admin |AND| __REDDIT__/forums",
        eval={
            "eval_types": ["url_match", "program_html"],
            "reference_answers": None,
            "reference_url": "__REDDIT__/f/books |OR| __REDDIT__/f/gaming",
            "program_html": [
                {"url": "func:reddit_get_post_url('__last_url__')", "locator": "", "required_contents": {}},
                {"url": "__SHOPPING_ADMIN__/sales", "locator": "document.title", "required_contents": {}},
            ],
        },
    )
    sites = {"shopping_admin": "http://admin.example:7780/admin/", "reddit": "http://forum.example:9999"}
    configs = load_webarena_configs([config], sites, BROWSER_EVALS)
    played = configs.config(42)
    assert (
        played["start_url"] == "http://admin.example:7780/admin/admin |AND| http://forum.example:9999/forums"
    )
    assert (
        played["eval"]["reference_url"]
        == "http://forum.example:9999/f/books |OR| http://forum.example:9999/f/gaming"
    )
    assert played["eval"]["program_html"][1]["url"] == "http://admin.example:7780/admin/sales"
    assert played["eval"]["url_note"] == "GOLD in PRED"  # WebArena's default rule, named
    assert config["start_url"].startswith("__SHOPPING_ADMIN__")  # the caller's config is left as given
    with pytest.raises(ValueError, match="no task_id 7"):
        configs.config(7)


def test_refusals_name_the_missing_site_or_the_evaluator():
    configs = [
        webarena_config(1),
        webarena_config(2, sites=["map", "wikipedia"], start_url="__MAP__"),
        webarena_config(
            3, sites=["gitlab"], start_url="__GITLAB__", storage_state="./.auth/gitlab_state.json"
        ),
        webarena_config(4, eval={"eval_types": ["program_html"], "program_html": []}),
        webarena_config(5, start_url="__HOMEPAGE__"),
    ]
    given = load_webarena_configs(configs, {"shopping": "http://shop.example:7770"}, BROWSER_EVALS)
    assert sorted(given) == [1, 4]
    assert "needs the sites ['map', 'wikipedia'], which sites= does not give" in given.refused[2]
    assert "['gitlab']" in given.refused[3] and "['homepage']" in given.refused[5]
    text = load_webarena_configs(configs)  # the text backend: the generated sites, no pages to read
    assert sorted(text) == [1, 3]
    assert "eval ['program_html'] cannot run here" in text.refused[4]
    assert "have not modelled" in text.refused[2]
    helper = {"url": "last", "locator": "func:exec('import os')", "required_contents": {}}
    bad = webarena_config(6, eval={"eval_types": ["program_html"], "program_html": [helper]})
    with pytest.raises(ValueError, match="unknown helper 'exec'"):
        load_webarena_configs([bad], ALL_SITES, BROWSER_EVALS)  # nothing left to play: the reason
    with pytest.raises(ValueError, match="unknown sites \\['shop'\\]"):
        load_webarena_configs(configs, {"shop": "http://x:1"})
    with pytest.raises(ValueError, match="http\\(s\\) address"):
        load_webarena_configs(configs, {"shopping": "localhost:7770"})
    with pytest.raises(ValueError, match="appears twice"):
        load_webarena_configs([webarena_config(1), webarena_config(1)])


def test_login_sites_are_read_from_the_storage_state_name_as_webarena_does():
    assert login_sites(webarena_config()) == ("shopping",)
    assert login_sites(webarena_config(storage_state="./.auth/gitlab.reddit_state.json")) == (
        "gitlab",
        "reddit",
    )
    assert login_sites(webarena_config(storage_state="./.auth/shopping_admin_state.json")) == (
        "shopping_admin",
    )
    assert login_sites(webarena_config(storage_state=None)) == ()
    with pytest.raises(ValueError, match="no account"):
        login_sites(webarena_config(storage_state="./.auth/map_state.json"))


# ------------------------------------------------------------------------------ program_html helpers
def test_helper_calls_are_parsed_never_evaluated():
    assert parse_helper("func:reddit_get_post_url('__last_url__')") == (
        "reddit_get_post_url",
        ("__last_url__",),
    )
    assert parse_helper("func:gitlab_get_project_memeber_role(__page__, 'byteblaze')") == (
        "gitlab_get_project_memeber_role",
        (PAGE, "byteblaze"),
    )
    assert parse_helper("func:shopping_get_latest_order_url()") == ("shopping_get_latest_order_url", ())
    for code in (
        "func:reddit_get_post_url(open('/etc/passwd').read())",
        "func:os.system('true')",
        "func:reddit_get_post_url(url='x')",
        "func:reddit_get_post_url('a' + 'b')",
        "func:reddit_get_post_url('x'); import os",
    ):
        with pytest.raises(ValueError):
            parse_helper(code)


def test_reddit_post_url_keeps_a_post_and_leaves_other_pages():
    forum = "http://forum.example:9999"
    assert reddit_post_url(f"{forum}/f/books/124/tips-for-dune/comment/8") == f"{forum}/f/books/124/"
    assert reddit_post_url(f"{forum}/f/books/124") == f"{forum}/f/books/124/"
    assert reddit_post_url(f"{forum}/f/books") == f"{forum}/f/books"
    assert reddit_post_url(f"{forum}/user/x/submissions") == f"{forum}/user/x/submissions"


def test_gitlab_role_script_quotes_the_account_as_data():
    script = gitlab_member_role_script('o\'brien"); alert(1); ("')
    assert json.dumps('@o\'brien"); alert(1); ("') in script
    assert (
        "td[data-label='Account'] span.gl-avatar-labeled-sublabel" in script
        and "td.col-max-role span" in script
    )


class FakeMagento(BaseHTTPRequestHandler):
    """The two REST routes WebArena's shopping helpers call, as Magento answers them."""

    token = "t0k3n"

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ok = self.path == "/rest/default/V1/integration/admin/token" and body == {
            "username": "admin",
            "password": "admin1234",
        }
        self._reply(200 if ok else 401, self.token if ok else {"message": "bad"})

    def do_GET(self) -> None:  # noqa: N802
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reply(401, {"message": "no token"})
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/rest/V1/orders" and query["searchCriteria[sortOrders][0][direction]"] == ["DESC"]:
            return self._reply(200, {"items": [{"increment_id": "000000190"}], "total_count": 1})
        if parts.path == "/rest/V1/products/B07DFJ5XKH/reviews":
            reviews = [
                {"nickname": "Jane", "ratings": [{"rating_name": "Rating", "percent": 40}]},
                {"nickname": "Emma Lopez", "ratings": [{"rating_name": "Rating", "percent": 100}]},
            ]
            return self._reply(200, reviews)
        if parts.path == "/rest/V1/products/B000/reviews":
            return self._reply(200, [])
        self._reply(404, {"message": "no route"})

    def _reply(self, status: int, value) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def magento():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMagento)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_shop_helpers_call_magentos_rest_api_with_the_admin_token(magento):
    admin = MagentoAdmin(magento)
    assert admin.latest_order_url() == f"{magento}/sales/order/view/order_id/190/"
    assert (
        admin.latest_review("B07DFJ5XKH")["nickname"] == "Emma Lopez" and admin.latest_review("B000") is None
    )
    with pytest.raises(RuntimeError, match="could not use the shop's REST API at .*/elsewhere/rest/default"):
        MagentoAdmin(f"{magento}/elsewhere").latest_order_url()
    forum = "http://forum.example:9999"
    targets = [
        {"url": "func:shopping_get_latest_order_url()", "locator": "document.title", "required_contents": {}},
        {
            "url": "last",
            "locator": "func:shopping_get_sku_latest_review_rating('B07DFJ5XKH')",
            "required_contents": {},
        },
        {
            "url": "last",
            "locator": "func:shopping_get_sku_latest_review_author('B07DFJ5XKH')",
            "required_contents": {},
        },
        {
            "url": "last",
            "locator": "func:shopping_get_sku_latest_review_author('B000')",
            "required_contents": {},
        },
        {"url": "func:reddit_get_post_url('__last_url__')", "locator": "", "required_contents": {}},
        {
            "url": "last",
            "locator": "func:gitlab_get_project_memeber_role(__page__, 'yjlou')",
            "required_contents": {},
        },
    ]
    resolved = resolve_program_html(targets, f"{forum}/f/books/124/a-title", {"shopping": magento})
    assert resolved[0]["url"] == f"{magento}/sales/order/view/order_id/190/"
    assert [r.get("value") for r in resolved[1:4]] == ["100", "Emma Lopez", ""]
    assert resolved[4]["url"] == f"{forum}/f/books/124/"
    assert resolved[5]["locator"] == gitlab_member_role_script("yjlou") and "value" not in resolved[5]
    for check in resolved:
        evaluators.check_is_supported({**check, "required_contents": {"must_include": ["x"]}})


# ------------------------------------------------------------------------------ WebArena's match rules
def test_string_match_cleans_answers_as_webarena_does():
    assert evaluators.string_match('"Quest Lumaflex Band"', {"exact_match": "quest lumaflex band"})
    assert evaluators.string_match("There are 0 reviews", {"must_include": ["0"]})
    assert not evaluators.string_match(
        "There are 10 reviews", {"must_include": ["0"]}
    )  # a token, not a digit
    assert evaluators.string_match("3.5 stars", {"must_include": ["3.5"]})
    assert not evaluators.string_match("3.5 stars", {"must_include": ["3"]})
    assert evaluators.string_match("10 and 0", {"must_include": ["1", "0"]})  # several: plain inclusion


def test_url_match_gold_in_pred_is_webarenas_rule():
    rule = "GOLD in PRED"
    gitlab = "http://gitlab.example:8023"
    reference = f"{gitlab}/byteblaze/dotfiles/-/issues/?label_name%5B%5D=bug"
    assert evaluators.url_match(
        f"{gitlab}/byteblaze/dotfiles/-/issues/?sort=new&label_name[]=bug", reference, rule
    )
    assert not evaluators.url_match(f"{gitlab}/byteblaze/dotfiles/-/issues", reference, rule)
    forum = "http://forum.example:9999"
    alternatives = f"{forum}/f/deeplearning |OR| {forum}/f/MachineLearning"
    assert evaluators.url_match(f"{forum}/f/MachineLearning/new", alternatives, rule)  # the gold inside
    assert not evaluators.url_match(f"{forum}/f/machinelearning", alternatives, rule)  # case counts
    with pytest.raises(ValueError, match="unknown url_match rule"):
        evaluators.url_match(forum, forum, "PRED in GOLD")


# ------------------------------------------------------------------------------ on a user's sites (browser)
def browser_or_skip() -> None:
    pytest.importorskip("playwright", reason="WebArena's browser backend needs the module 'playwright'")
    from agentgym_envs.envs.webarena.chromium import ChromiumNotFound, find_chromium

    try:
        find_chromium()
    except ChromiumNotFound as missing:
        pytest.skip(str(missing))  # "needs the program 'chromium' on PATH ... apt-get install chromium"


class RecordingSites:
    """The generated sites standing in for a user's WebArena sites, noting every login form sent
    and the session cookie each page request carried."""

    def __init__(self, world):
        from agentgym_envs.envs.webarena.webserver import SiteServer

        recorder = self

        class Recording(SiteServer):
            def get(self, site, target, cookies):
                recorder.requests.append((SITE_NAMES[site], target, cookies))
                return super().get(site, target, cookies)

            def post(self, site, target, body):
                if "op=login" in body:
                    recorder.logins.append(SITE_NAMES[site])
                return super().post(site, target, body)

        self.requests: list[tuple[str, str, dict]] = []
        self.logins: list[str] = []
        self.server = Recording(world).start()
        # What a user passes as sites=: the generated sites' live addresses, by WebArena's names.
        self.sites = {SITE_NAMES[canonical]: live for canonical, live in self.server.origins.items()}

    def session_on_last_request(self, site: str) -> bool:
        """Whether the last page fetched from ``site`` came with a session WebArena's account opened."""
        cookies = [c for s, _, c in self.requests if s == site][-1]
        return self.server.has_session(cookies.get(f"session_{site}", ""))


@pytest.fixture(scope="module")
def users_sites():
    browser_or_skip()
    sites = RecordingSites(generate_world(SEED))
    yield sites
    sites.server.close()


SEED = 5
ENV_ID = "AgentGym/WebArena-v0"


def program_eval(url: str, locator: str, text: str) -> dict:
    """A program_html eval of one check, in WebArena's shape."""
    check = {"url": url, "locator": locator, "required_contents": {"must_include": [text]}}
    return {"eval_types": ["program_html"], "reference_url": "", "program_html": [check]}


def users_configs(world) -> list[dict]:
    """Configs in WebArena's format whose answers fit the generated world standing in for the
    user's sites; shapes of real tasks (string_match, url_match GOLD in PRED, program_html with
    reddit_get_post_url and a page's locator), with WebArena's login state names."""
    product = list(world.shop.products.values())[3]
    posts = list(world.forum.posts.values())
    forum = world.forum.forums[1]
    project = next(iter(world.gitlab.projects.values()))
    vote_class = "document.querySelector('div.submission__vote').querySelector('form').getAttribute('class')"
    cart_items = "document.querySelector('#shopping-cart-table').outerText"
    return [
        webarena_config(
            1001,
            intent=f"What is the price of {product.name}",
            eval={
                "eval_types": ["string_match"],
                "reference_answers": {"must_include": [f"{product.price:.2f}"]},
            },
        ),
        webarena_config(
            1002,
            sites=["reddit"],
            storage_state="./.auth/reddit_state.json",
            start_url="__REDDIT__",
            intent=f"Go to the {forum} forum",
            eval={"eval_types": ["url_match"], "reference_url": f"__REDDIT__/f/{forum}", "program_html": []},
        ),
        *(
            webarena_config(
                task_id,
                sites=["gitlab", "reddit"],
                storage_state="./.auth/gitlab.reddit_state.json",
                start_url=f"__REDDIT__/f/{post.forum}/{post.id}",
                intent=f"Upvote the post '{post.title}'",
                eval=program_eval(
                    "func:reddit_get_post_url('__last_url__')", vote_class, "vote--user-upvoted"
                ),
            )
            for task_id, post in ((1003, posts[0]), (1004, posts[1]))
        ),
        webarena_config(
            1005,
            start_url=f"__SHOPPING__/{product_url(product.name).split('/', 3)[3]}",
            intent=f"Add {product.name} to my cart",
            eval=program_eval("__SHOPPING__/checkout/cart/", cart_items, product.name),
        ),
        webarena_config(
            1006,
            sites=["gitlab"],
            storage_state="./.auth/gitlab_state.json",
            start_url="__GITLAB__",
            intent=f"How many stars does {project.path} have",
            eval={"eval_types": ["string_match"], "reference_answers": {"exact_match": str(project.stars)}},
        ),
    ]


def click(env, obs: str, role: str, name: str) -> str:
    """Click the element shown with this role and name (its id read from the observation)."""
    from agentgym_envs.envs.webarena.chromium import parse_tree

    tree = obs.split("OBSERVATION:\n", 1)[1].split("\n\n", 1)[1].split("\nURL: ")[0]
    node = next(line for line in parse_tree(tree) if line.role == role and line.name.startswith(name))
    obs, reward, terminated, *_ = env.step(f"click [{node.node_id}]")
    assert reward == 0.0 and not terminated, obs
    return obs


def test_webarenas_configs_play_on_a_users_sites_with_its_evaluators_and_logins(users_sites, tmp_path):
    world = users_sites.server.world
    configs = users_configs(world)
    env = gym.make(ENV_ID, backend="browser", sites=users_sites.sites, tasks=configs, auth_dir=tmp_path)
    try:
        shop = users_sites.sites["shopping"]
        obs, info = env.reset(options={"task_id": 1001})
        assert info["item_id"] == "webarena_1001" and info["task_id"] == 1001
        assert f"URL: {shop}/" in obs and "OBJECTIVE: What is the price of" in obs
        assert users_sites.logins == ["shopping"] and users_sites.session_on_last_request("shopping")
        product = list(world.shop.products.values())[3]
        assert env.step(f"stop [${product.price:.2f}]")[1] == 1.0
        env.reset(options={"task_id": 1001})
        assert env.step("stop [$0.01]")[1] == 0.0
        assert users_sites.logins == ["shopping"]  # the state was reused, not made again

        obs, _ = env.reset(options={"task_id": 1002})
        forum = world.forum.forums[1]
        obs = click(env, obs, "link", f"f/{forum}")
        assert f"URL: {users_sites.sites['reddit']}/f/{forum}" in obs
        assert env.step("stop []")[1] == 1.0  # GOLD in PRED

        obs, _ = env.reset(options={"task_id": 1003})
        assert users_sites.logins == [
            "shopping",
            "reddit",
            "gitlab",
            "reddit",
        ]  # gitlab.reddit: both, in order
        assert users_sites.session_on_last_request("reddit")
        click(env, obs, "button", "Upvote")
        assert env.step("stop []")[1] == 1.0  # program_html on reddit_get_post_url(the last URL)
        env.reset(options={"task_id": 1004})
        assert env.step("stop []")[1] == 0.0  # not upvoted

        obs, _ = env.reset(options={"task_id": 1005})
        click(env, obs, "button", "Add to Cart")
        assert env.step("stop []")[1] == 1.0  # the cart page, read in a new tab
        env.reset(options={"task_id": 1006})
        stars = next(iter(world.gitlab.projects.values())).stars
        assert env.step(f"stop [{stars}]")[1] == 1.0
        with pytest.raises(NotImplementedError, match="no scripted expert"):
            env.unwrapped.expert()
    finally:
        env.close()
    states = sorted(p.name for p in tmp_path.rglob("*_state.json"))
    assert states == [
        "gitlab.reddit_state.json",
        "gitlab_state.json",
        "reddit_state.json",
        "shopping_state.json",
    ]


def test_login_states_are_reused_across_envs_and_renewed_when_old(users_sites, tmp_path):
    config = users_configs(users_sites.server.world)[0]
    before = len(users_sites.logins)
    envs = []  # kept open together: they share the process's Chromium
    try:
        for max_age, logins in ((600, 1), (600, 1), (0, 2), (0, 3)):
            envs.append(
                gym.make(
                    ENV_ID,
                    backend="browser",
                    sites=users_sites.sites,
                    tasks=[config],
                    auth_dir=tmp_path,
                    login_max_age=max_age,
                )
            )
            envs[-1].reset(options={"task_id": 1001})
            assert users_sites.session_on_last_request("shopping")
            assert len(users_sites.logins) - before == logins
    finally:
        for env in envs:
            env.close()
    (state,) = tmp_path.rglob("shopping_state.json")
    cookie = json.loads(state.read_text())["cookies"][0]
    assert cookie["name"] == "session_shopping" and users_sites.server.has_session(cookie["value"])


def test_a_wrong_account_is_reported_naming_the_site(users_sites, tmp_path, monkeypatch):
    from agentgym_envs.envs.webarena import auto_login

    wrong = {**auto_login.ACCOUNTS, "reddit": {"username": "MarvelsGrantMan136", "password": "x"}}
    monkeypatch.setattr(auto_login, "ACCOUNTS", wrong)  # what signs in, not what the site accepts
    forum_task = users_configs(users_sites.server.world)[1:2]
    env = gym.make(ENV_ID, backend="browser", sites=users_sites.sites, tasks=forum_task, auth_dir=tmp_path)
    try:
        with pytest.raises(
            auto_login.LoginFailed, match="could not sign in to reddit at .* as MarvelsGrantMan136"
        ):
            env.reset()
    finally:
        env.close()
    assert not list(tmp_path.rglob("*_state.json"))


def test_a_task_needing_a_site_not_given_is_refused_naming_it(users_sites):
    configs = users_configs(users_sites.server.world)
    shop = users_sites.sites["shopping"]
    # WebArena's shop admin lives under a path of its host (http://host:7780/admin).
    env = gym.make(
        ENV_ID, backend="browser", sites={"shopping": shop, "shopping_admin": f"{shop}/admin"}, tasks=configs
    )
    try:
        assert sorted(env.unwrapped._given) == [1001, 1005]
        with pytest.raises(
            ValueError, match=r"task 1002 needs the sites \['reddit'\], which sites= does not give"
        ):
            env.reset(options={"task_id": 1002})
        _, info = env.reset(seed=3)  # a draw only among the tasks it can play
        assert info["task_id"] in (1001, 1005)
        browser = env.unwrapped.browser
        assert browser.reachable(f"{shop}/admin/dashboard") and not browser.reachable(
            users_sites.sites["reddit"]
        )
    finally:
        env.close()
    with pytest.raises(ValueError, match=r"needs the sites \['gitlab'\]"):
        gym.make(
            ENV_ID, backend="browser", sites={"shopping": users_sites.sites["shopping"]}, tasks=configs[-1:]
        )
    with pytest.raises(ValueError, match="give tasks= and backend='browser'"):
        gym.make(ENV_ID, sites=users_sites.sites, tasks=configs)
