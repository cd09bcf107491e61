"""The generated sites as real web pages: the HTTP server, the HTML of each page, forms that change
the world as the text backend's ``perform`` does, login, and WebArena's program_html checks read
from the pages in Chromium (those tests skip when Chromium is missing)."""

from __future__ import annotations

import ast
import copy
import html
import http.client
import re
import shutil
import socket
from urllib.parse import urlencode, urlsplit

import gymnasium as gym
import pytest

import agentgym_envs  # noqa: F401 - registers the ids
from agentgym_envs.envs.webarena import evaluators, pages, tasks, webserver
from agentgym_envs.envs.webarena.browser import VIEWPORT_NODES
from agentgym_envs.envs.webarena.html import page_html, parse_markup
from agentgym_envs.envs.webarena.pages import Node, Page, perform, render_page
from agentgym_envs.envs.webarena.sites import FORUM, FORUM_USER, GITLAB, SHOP, SITE_NAMES, generate_world
from agentgym_envs.envs.webarena.webarena_configs import ACCOUNTS
from agentgym_envs.envs.webarena.webserver import LOGIN_FORMS, LOGIN_PATHS, STALE_FORM, SiteServer

ENV_ID = "AgentGym/WebArena-v0"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The templates judged on the sites' state.
STATE_TEMPLATES = (
    tasks.add_to_cart,
    tasks.buy_product,
    tasks.upvote_post,
    tasks.comment_on_post,
    tasks.create_post,
    tasks.create_issue,
)
# A line of WebArena's accessibility-tree text: role, then the name as Python's repr.
AX_LINE = re.compile(r"^\t*\[-?\d+\] (\S+) ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
# One task of each, and a purchase in another world.
STATE_TASKS = [tasks.TEMPLATES.index(t) for t in STATE_TEMPLATES] + [
    tasks.TEMPLATES.index(tasks.buy_product) + 46
]


@pytest.fixture
def server():
    with SiteServer(generate_world(5)) as running:
        yield running


def request(server: SiteServer, method: str, url: str, form: dict | None = None, cookie: str = ""):
    """One request to the server behind canonical ``url``, redirects not followed:
    (status, headers by lower-case name, body)."""
    live = urlsplit(server.live_url(url))
    connection = http.client.HTTPConnection(live.hostname, live.port, timeout=10)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body, headers["Content-Type"] = urlencode(form), "application/x-www-form-urlencoded"
    connection.request(
        method, live.path + (f"?{live.query}" if live.query else ""), body=body, headers=headers
    )
    response = connection.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    connection.close()
    return result


def play_expert(task_id: int):
    """The text backend's expert on ``task_id`` up to its stop (not taken): the env and the URLs
    it visited."""
    env = gym.make(ENV_ID).unwrapped
    env.reset(options={"task_id": task_id})
    visited = [env.browser.url]
    for _ in range(40):
        _, action = env.expert()
        if action.startswith("stop"):
            return env, visited
        env.step(action)
        visited.append(env.browser.url)
    raise AssertionError(f"the expert did not finish task {task_id}")


# ------------------------------------------------------------------------------ pages
@pytest.mark.parametrize("task_id", range(0, len(tasks.TEMPLATES), 2))
def test_every_page_the_expert_visits_serves_its_nodes_escaped(task_id):
    env, visited = play_expert(task_id)
    with SiteServer(env.browser.world) as server:
        for url in dict.fromkeys(visited):
            status, headers, body = request(server, "GET", url)
            assert status == 200 and headers["content-type"] == "text/html; charset=utf-8", url
            page = render_page(env.browser.world, url)
            assert f"<title>{html.escape(page.title)}</title>" in body
            assert all(html.escape(node.name) in body for node in page.nodes), url
            assert "<script" not in body and "default-src 'none'" in headers["content-security-policy"]
            assert headers["cache-control"] == "no-store"


def test_model_text_is_escaped_everywhere(server):
    post = next(iter(server.world.forum.posts.values()))
    hostile = "<script>alert('x')</script> \" onmouseover=\"x"
    assert (
        request(server, "POST", pages.post_url(post), {"op": f"comment:{post.id}", "comment": hostile})[0]
        == 303
    )
    body = request(server, "GET", pages.post_url(post))[2]
    assert "<script>" not in body and html.escape(f"{FORUM_USER}: {hostile}") in body
    body = request(server, "GET", f"{SHOP}/catalogsearch/result/?q=%3Cb%3Ebold%3C%2Fb%3E")[2]
    assert "<b>" not in body and "&lt;b&gt;bold&lt;/b&gt;" in body


def test_html_mirrors_the_nodes_one_row_each():
    nodes = (
        Node("link", "Home", href=f"{SHOP}/"),
        Node("link", "The forum", href=f"{FORUM}/f/books"),
        Node("searchbox", "Search", field="q", op="shop_search"),
        Node("menubar", "Categories"),
        Node("link", "Beauty", 2, href=f"{SHOP}/beauty.html"),
        Node("heading", "Checkout"),
        Node("StaticText", "Total: $3.00", markup=".total"),
        Node("textbox", "Shipping Address", field="address", required=True),
        Node("textbox", "Note", field="note", markup="textarea"),
        Node("button", "Place Order", op="place_order"),
        Node(
            "button", "Upvote", op="vote:1:1", boxes=("div.submission__vote", "form.vote.vote--user-upvoted")
        ),
        Node(
            "button",
            "Downvote",
            op="vote:1:-1",
            boxes=("div.submission__vote", "form.vote.vote--user-upvoted"),
        ),
    )
    live = {SHOP: "http://127.0.0.1:1111", FORUM: "http://127.0.0.1:2222"}

    def href_for(url: str) -> str:
        site = pages.site_of(url)
        path = url[len(site) :] or "/"
        return path if site == SHOP else live[site] + path

    body = page_html(Page("Checkout", nodes), f"{SHOP}/checkout/", href_for)
    rows = re.findall(r'<(\w+) class="row d(\d)[ "]', body)
    assert [tag for tag, _ in rows] == [
        "a",
        "a",
        "input",
        "div",
        "a",
        "h1",
        "p",
        "input",
        "textarea",
        "button",
    ] + ["button"] * 2
    assert '<a class="row d1" href="/">Home</a>' in body  # same site: relative
    assert 'href="http://127.0.0.1:2222/f/books"' in body  # another site: its live origin
    assert (
        '<div role="menubar" aria-label="Categories">' in body
        and 'aria-hidden="true">Categories</div>' in body
    )
    assert re.search(
        r'<form id="(form-\d)" method="get" action="/catalogsearch/result/" hidden></form>', body
    )
    assert 'type="search" name="q" aria-label="Search"' in body
    # One POST form for the fields and their button, its first button disabled (Enter submits nothing).
    order_form = re.search(
        r'<form id="(form-\d)" method="post" action="/checkout/" hidden>(.*?)</form>', body
    )
    assert "disabled" in order_form.group(2)
    for control in ('name="address"', 'name="note"', 'value="place_order"'):
        assert re.search(rf'{control}[^>]*form="{order_form.group(1)}"', body), control
    assert 'aria-required="true"' in body and 'class="row d1 total"' in body
    assert re.search(r'<textarea [^>]*aria-label="Note"[^>]*></textarea>', body)  # a field starts empty
    vote = re.search(
        r'<div class="submission__vote">\s*<form id="(form-\d)" [^>]*class="vote vote--user-upvoted"', body
    )
    assert vote and body.count(f'form="{vote.group(1)}"') == 2
    assert parse_markup('a.action.view#x[data-qa="t q"]') == (
        "a",
        {"id": "x", "data-qa": "t q", "class": "action view"},
    )
    with pytest.raises(ValueError, match="not of the form"):
        parse_markup("a b")


# ------------------------------------------------------------------------------ forms
def post_and_perform(server, url: str, op: str, form: dict):
    """POST a form to the server and run ``perform`` on a copy of the world taken before it:
    the two worlds after, the redirect and what perform said."""
    expected = copy.deepcopy(server.world)
    status, headers, _ = request(server, "POST", url, {"op": op, **form})
    assert status == 303
    to, message = perform(expected, op, form)
    return server.world, expected, headers, to, message


def test_forms_change_the_world_as_perform_does(server):
    world = server.world
    product = next(iter(world.shop.products.values()))
    post = next(p for p in world.forum.posts.values() if p.my_vote == 0)
    project = next(iter(world.gitlab.projects))
    steps = [
        (pages.product_url(product.name), f"add_to_cart:{product.sku}", {}),
        (pages.product_url(product.name), f"add_to_cart:{product.sku}", {}),
        (pages.CART_URL, f"remove_from_cart:{product.sku}", {}),
        (pages.product_url(product.name), f"add_to_cart:{product.sku}", {}),
        (pages.CART_URL, "go_checkout", {}),
        (pages.CHECKOUT_URL, "place_order", {"address": ""}),
        (pages.CHECKOUT_URL, "place_order", {"address": "7 Beacon Street, Boston, MA"}),
        (pages.post_url(post), f"vote:{post.id}:1", {}),
        (pages.post_url(post), f"vote:{post.id}:1", {}),
        (pages.post_url(post), f"vote:{post.id}:-1", {}),
        (pages.post_url(post), f"comment:{post.id}", {"comment": "Same here!"}),
        (pages.submit_url(post.forum), f"submit_post:{post.forum}", {"title": "Hello", "body": "A body"}),
        (pages.new_issue_url(project), f"create_issue:{project}", {"title": "Fix it", "description": "Now"}),
    ]
    for url, op, form in steps:
        served, expected, headers, to, message = post_and_perform(server, url, op, form)
        assert served == expected, op
        location = to or url
        assert headers["location"] == server.href_for(pages.site_of(url), location)
        assert ("flash_" in headers.get("set-cookie", "")) == bool(message)
    assert world.shop.orders[-1].address == "7 Beacon Street, Boston, MA" and not world.shop.cart
    assert world.forum.posts[post.id].my_vote == -1


def test_a_redirect_shows_the_message_once_and_searches_are_get_forms(server):
    product = next(iter(server.world.shop.products.values()))
    url = pages.product_url(product.name)
    _, headers, _ = request(server, "POST", url, {"op": f"add_to_cart:{product.sku}"})
    assert headers["location"] == urlsplit(url).path
    cookie = headers["set-cookie"].split(";")[0]
    status, headers, body = request(server, "GET", url, cookie=cookie)
    assert status == 200 and f"You added {html.escape(product.name)} to your shopping cart." in body
    assert "Max-Age=0" in headers["set-cookie"]  # shown once
    assert "My Cart (1)" in body
    body = request(server, "GET", f"{SHOP}/catalogsearch/result/?q=" + product.name.replace(" ", "+"))[2]
    assert html.escape(f"Search results for: '{product.name}'") in body


def test_a_stale_or_unknown_form_changes_nothing(server):
    before = copy.deepcopy(server.world)
    post = next(iter(server.world.forum.posts.values()))
    for url, op in (
        (pages.CART_URL, "remove_from_cart:B0000000"),  # not on the (empty) cart page
        (pages.CHECKOUT_URL, "place_order"),  # an empty cart has no Place Order button
        (pages.post_url(post), f"vote:{post.id + 1}:1"),  # another post's button
        (pages.post_url(post), "__import__('os')"),
    ):
        status, headers, _ = request(server, "POST", url, {"op": op, "address": "x"})
        assert status == 303 and headers["location"] == urlsplit(url).path
        assert "flash_" in headers["set-cookie"]
    assert server.world == before
    body = request(server, "GET", pages.post_url(post), cookie=headers["set-cookie"].split(";")[0])[2]
    assert html.escape(STALE_FORM) in body


def test_unknown_pages_and_bad_requests(server):
    status, _, body = request(server, "GET", f"{SHOP}/no/such/page.html")
    assert (
        status == 404 and "404: this page does not exist" in body and "<title>404 Not Found</title>" in body
    )
    assert request(server, "GET", f"{FORUM}/f/books/99999999999999999999")[0] == 404
    assert request(server, "POST", f"{GITLAB}/nobody/nothing/-/issues/new", {"op": "x"})[0] == 404
    live = urlsplit(server.origins[SHOP])
    for target in ("http://example.com/", "*"):  # not a path on this site
        connection = http.client.HTTPConnection(live.hostname, live.port, timeout=10)
        connection.request("GET", target)
        assert connection.getresponse().status == 400, target
        connection.close()
    connection = http.client.HTTPConnection(live.hostname, live.port, timeout=10)
    connection.request("POST", "/checkout/", body=b"", headers={"Content-Length": str(1 << 30)})
    assert connection.getresponse().status == 413
    connection.close()


def test_a_bug_in_a_page_is_a_500_and_the_server_goes_on(server, monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(webserver, "render_page", broken)
    status, _, body = request(server, "GET", f"{SHOP}/")
    assert status == 500 and "a bug" not in body and "the shopping site failed" in caplog.text
    monkeypatch.undo()
    assert request(server, "GET", f"{SHOP}/")[0] == 200


def test_no_world_is_a_503_and_set_world_swaps_it():
    with SiteServer() as server:
        assert request(server, "GET", f"{SHOP}/")[0] == 503
        first, second = generate_world(1), generate_world(2)
        server.set_world(first)
        assert server.world is first
        name = next(iter(first.shop.products.values())).name
        assert html.escape(name) in request(server, "GET", pages.category_url(first.shop.categories()[0]))[2]
        server.set_world(second)
        body = request(server, "GET", f"{SHOP}/sales/order/history/")[2]
        assert all(f"Order # {o.number}" in body for o in second.shop.orders)


# ------------------------------------------------------------------------------ the servers
def test_each_site_is_its_own_origin_and_urls_map_both_ways(server):
    origins = server.origins
    assert set(origins) == {SHOP, FORUM, GITLAB} and len(set(origins.values())) == 3
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+", live) for live in origins.values())
    url = f"{FORUM}/f/books/105/a-title?x=1"
    assert server.live_url(url) == origins[FORUM] + "/f/books/105/a-title?x=1"
    assert server.canonical_url(server.live_url(url)) == url
    assert server.live_url("http://localhost:77700/x") == "http://localhost:77700/x"  # another port
    assert server.href_for(SHOP, f"{SHOP}/checkout/cart/") == "/checkout/cart/"
    assert server.href_for(SHOP, f"{GITLAB}/a/b") == origins[GITLAB] + "/a/b"
    assert server.href_for(SHOP, "http://example.com/x") == "http://example.com/x"


def test_close_frees_the_ports_and_two_servers_run_side_by_side():
    first, second = SiteServer(generate_world(1)).start(), SiteServer(generate_world(2)).start()
    assert first.start() is first and first.origins == first.start().origins  # idempotent
    ports = [urlsplit(live).port for live in first.origins.values()]
    assert not set(ports) & {urlsplit(live).port for live in second.origins.values()}
    product = next(iter(first.world.shop.products.values()))
    request(first, "POST", pages.product_url(product.name), {"op": f"add_to_cart:{product.sku}"})
    assert "My Cart (1)" in request(first, "GET", pages.CART_URL)[2]
    assert "My Cart (0)" in request(second, "GET", pages.CART_URL)[2]
    first.close()
    first.close()  # closing twice is harmless
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            probe.listen()
    assert "My Cart (0)" in request(second, "GET", pages.CART_URL)[2]
    second.close()
    with pytest.raises(RuntimeError, match="start"):
        second.origins


@pytest.mark.parametrize("site", [SHOP, FORUM, GITLAB])
def test_login_with_webarenas_account_sets_a_session_cookie(server, site):
    title, user, password, button, error = LOGIN_FORMS[site]
    login = site + LOGIN_PATHS[site]
    status, _, body = request(server, "GET", login)
    assert status == 200 and f'aria-label="{user.name}"' in body and f">{button.name}</button>" in body
    account, secret = ACCOUNTS[SITE_NAMES[site]]["username"], ACCOUNTS[SITE_NAMES[site]]["password"]
    status, headers, _ = request(
        server, "POST", login, {"op": "login", user.field: account, password.field: "no"}
    )
    assert (
        status == 303 and headers["location"] == LOGIN_PATHS[site] and "session_" not in headers["set-cookie"]
    )
    assert html.escape(error) in request(server, "GET", login, cookie=headers["set-cookie"].split(";")[0])[2]
    status, headers, _ = request(
        server, "POST", login, {"op": "login", user.field: account, password.field: secret}
    )
    assert status == 303 and headers["location"] == "/"
    name, token = headers["set-cookie"].split(";")[0].split("=", 1)
    assert name == f"session_{SITE_NAMES[site]}" and server.has_session(token)
    assert "HttpOnly" in headers["set-cookie"]


# ------------------------------------------------------------------------------ program_html
def test_every_state_task_carries_program_html_in_webarenas_shape():
    for task_id in range(2 * len(tasks.TEMPLATES)):
        evaluation = tasks.make_task(task_id, generate_world(task_id))["eval"]
        if "state_match" not in evaluation["eval_types"]:
            assert "program_html" not in evaluation
            continue
        assert evaluation["program_html"]
        for check in evaluation["program_html"]:
            assert set(check) == {"url", "locator", "required_contents"}
            assert check["url"] == "last" or pages.site_of(check["url"])
            assert check["locator"].startswith("document.")
            assert set(check["required_contents"]) in ({"exact_match"}, {"must_include"})
            evaluators.check_is_supported(check)


def test_program_html_follows_webarenas_rules():
    pages_text = {"http://a/x": "<p>Price: $12.00 &amp; more</p>", "last": "vote vote--user-upvoted"}
    reads = []

    def read(url: str, locator: str) -> str:
        reads.append((url, locator))
        return pages_text.get(url, "")

    check = {"url": "http://a/x", "locator": "", "required_contents": {"must_include": ["$12.00 & MORE"]}}
    assert evaluators.program_html([check], read)
    alternatives = {"must_include": ["nothing |OR| price: $12", "more"]}
    assert evaluators.program_html([{**check, "required_contents": alternatives}], read)
    assert not evaluators.program_html([{**check, "required_contents": {"must_include": ["$13"]}}], read)
    vote = {
        "url": "last",
        "locator": "document.title",
        "required_contents": {"exact_match": "'Vote vote--user-upvoted'"},
    }
    assert evaluators.program_html([vote], read)
    assert not evaluators.program_html([{**vote, "required_contents": {"exact_match": "vote"}}], read)
    prep = {**vote, "prep_actions": ["document.querySelector('x').click()"]}
    evaluators.program_html([prep], read)
    assert reads[-1][1].startswith("(() => { try { (document.querySelector('x').click());")
    resolved = {
        **check,
        "url": "http://nowhere",
        "value": "Emma Lopez",
        "required_contents": {"must_include": ["emma"]},
    }
    assert evaluators.program_html([resolved], read) and reads[-1][0] != "http://nowhere"  # no page read
    for bad in ("func:shopping_get_latest_order_url()", "func:reddit_get_post_url('__last_url__')"):
        with pytest.raises(evaluators.UnsupportedCheck, match="resolve_program_html"):
            evaluators.program_html([check, {**check, "url": bad}], read)
    count = len(reads)
    with pytest.raises(evaluators.UnsupportedCheck, match="unknown program_html locator"):
        evaluators.program_html([check, {**check, "locator": "window.x"}], read)
    assert len(reads) == count  # vetted before any page is read
    with pytest.raises(ValueError, match="browser backend"):
        evaluators.evaluate(
            {"eval_types": ["program_html"], "program_html": [check]}, answer="", url="", world=None
        )


# ------------------------------------------------------------------------------ in Chromium
@pytest.fixture(scope="module")
def chromium():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (the webarena-browser extra)"
    )
    if not shutil.which(CHROMIUM):
        pytest.skip("Chromium is missing: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def tab(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    yield page
    context.close()


def reader(page, server: SiteServer):
    """``read`` as WebArena's HTMLContentEvaluator does it, in Chromium: a new tab for an address,
    ``str()`` of the locator's value ('' when it throws), the HTML for an empty locator."""
    from playwright.sync_api import Error

    def read(url: str, locator: str) -> str:
        target = page if url == "last" else page.context.new_page()
        try:
            if target is not page:
                target.goto(server.live_url(url))
            if not locator.strip():
                return target.content()
            try:
                return str(target.evaluate(f"() => {locator}"))
            except Error:
                return ""
        finally:
            if target is not page:
                target.close()

    return read


@pytest.mark.parametrize("task_id", STATE_TASKS)
def test_program_html_agrees_with_state_match_after_the_expert_and_untouched(tab, task_id):
    env, visited = play_expert(task_id)
    evaluation = env.config["eval"]
    with SiteServer(env.browser.world) as server:
        tab.goto(server.live_url(visited[-1]))
        assert evaluators.state_match(server.world, evaluation["state_checks"])
        assert evaluators.program_html(evaluation["program_html"], reader(tab, server))
        assert evaluators.evaluate(
            evaluation, answer="", url=visited[-1], world=None, read=reader(tab, server)
        )
        untouched = generate_world(task_id)
        server.set_world(untouched)
        tab.goto(server.live_url(env.config["start_url"]))
        assert not evaluators.state_match(untouched, evaluation["state_checks"])
        assert not evaluators.program_html(evaluation["program_html"], reader(tab, server))


def test_program_html_fails_a_change_that_missed(tab):
    task_id = tasks.TEMPLATES.index(tasks.upvote_post)
    env, visited = play_expert(task_id)
    post_id = env.config["eval"]["state_checks"][0]["post_id"]
    env.browser.world.forum.vote(post_id, -1)  # a downvote instead
    with SiteServer(env.browser.world) as server:
        tab.goto(server.live_url(visited[-1]))
        assert not evaluators.state_match(server.world, env.config["eval"]["state_checks"])
        assert not evaluators.program_html(env.config["eval"]["program_html"], reader(tab, server))


def test_the_page_behaves_in_chromium_as_in_the_text_backend(tab, server):
    product = next(iter(server.world.shop.products.values()))
    tab.goto(server.origins[SHOP] + "/")
    tab.get_by_role("searchbox", name="Search").fill(product.name)
    tab.keyboard.press("Enter")  # a search box searches on Enter
    tab.wait_for_url("**/catalogsearch/result/**")
    tab.get_by_role("link", name=product.name).click()
    tab.get_by_role("button", name="Add to Cart").click()
    tab.wait_for_load_state()
    assert server.world.shop.cart == [product.sku]
    assert tab.get_by_text(f"You added {product.name}").count() == 1
    tab.goto(server.live_url(pages.CHECKOUT_URL))
    tab.get_by_role("textbox", name="Shipping Address").fill("1 Main Street")
    tab.keyboard.press("Enter")  # Enter in a text field submits nothing, as in the text backend
    tab.get_by_role("button", name="Place Order").click()
    tab.wait_for_url("**/checkout/onepage/success/")
    assert server.world.shop.orders[-1].address == "1 Main Street"
    tab.go_back()  # back to the checkout page, as the site is now: an empty cart
    assert tab.get_by_text("Your cart is empty").count() == 1


def test_webarenas_auto_login_steps_sign_in(tab, server):
    """The locators of WebArena's auto_login.py, on each login page."""
    shop, forum, gitlab = (server.origins[site] + LOGIN_PATHS[site] for site in (SHOP, FORUM, GITLAB))
    tab.goto(shop)
    tab.get_by_label("Email", exact=True).fill(ACCOUNTS[SITE_NAMES[SHOP]]["username"])
    tab.get_by_label("Password", exact=True).fill(ACCOUNTS[SITE_NAMES[SHOP]]["password"])
    tab.get_by_role("button", name="Sign In").click()
    tab.wait_for_url(server.origins[SHOP] + "/")
    tab.goto(forum)
    tab.get_by_label("Username").fill(ACCOUNTS[SITE_NAMES[FORUM]]["username"])
    tab.get_by_label("Password").fill(ACCOUNTS[SITE_NAMES[FORUM]]["password"])
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(server.origins[FORUM] + "/")
    tab.goto(gitlab)
    tab.get_by_test_id("username-field").fill(ACCOUNTS[SITE_NAMES[GITLAB]]["username"])
    tab.get_by_test_id("password-field").fill(ACCOUNTS[SITE_NAMES[GITLAB]]["password"])
    tab.get_by_test_id("sign-in-button").click()
    tab.wait_for_url(server.origins[GITLAB] + "/")
    cookies = {c["name"]: c["value"] for c in tab.context.cookies()}
    for name in ("session_shopping", "session_reddit", "session_gitlab"):
        assert server.has_session(cookies[name]), name


def tree_pairs(tree: str) -> list[tuple[str, str]]:
    """(role, name) of each line of WebArena's tree text, the root left out."""
    pairs = [(m.group(1), ast.literal_eval(m.group(2))) for m in map(AX_LINE.match, tree.splitlines()) if m]
    return [pair for pair in pairs if pair[0] != "RootWebArea"]


def webarena_tree(page) -> str:
    """WebArena's own observation of ``page`` (libwebarena's processor): the viewport's tree."""
    processors = pytest.importorskip(
        "webarena.browser_env.processors", reason="pip install --no-deps libwebarena"
    )
    processor = processors.TextObervationProcessor("accessibility_tree", True, {"width": 1280, "height": 720})
    return processor.process(page, page.context.new_cdp_session(page))


def text_tree(nodes) -> list[tuple[str, str]]:
    """The text backend's nodes as WebArena's processor would print them, with its cleaning (a
    StaticText already said in one of the three lines before it is dropped)."""
    processors = pytest.importorskip(
        "webarena.browser_env.processors", reason="pip install --no-deps libwebarena"
    )
    lines = "\n".join(f"[{i}] {node.role} {' '.join(node.name.split())!r}" for i, node in enumerate(nodes))
    return tree_pairs(processors.TextObervationProcessor.clean_accesibility_tree(lines))


@pytest.mark.parametrize("task_id", [0, 1, 2, 3, 10, 13])
def test_chromiums_tree_of_a_page_has_the_text_trees_roles_and_names(tab, task_id):
    env, visited = play_expert(task_id)
    with SiteServer(env.browser.world) as server:
        for url in dict.fromkeys(visited):
            tab.goto(server.live_url(url))
            nodes = render_page(env.browser.world, url).nodes
            assert tree_pairs(webarena_tree(tab)) == text_tree(nodes[:VIEWPORT_NODES]), url


def test_the_viewport_shows_45_rows_and_a_scroll_moves_by_whole_rows(tab, server):
    url = f"{SHOP}/catalogsearch/result/?q="  # every product: two screens and a bit
    nodes = render_page(server.world, url).nodes
    assert 30 + VIEWPORT_NODES < len(nodes) < 60 + VIEWPORT_NODES
    tab.goto(server.live_url(url))
    assert tree_pairs(webarena_tree(tab)) == text_tree(nodes[:VIEWPORT_NODES])
    tab.evaluate("window.scrollBy(0, 30 * 16)")  # the text backend's scroll: 30 rows
    assert tree_pairs(webarena_tree(tab)) == text_tree(nodes[30 : 30 + VIEWPORT_NODES])
    tab.evaluate("window.scrollBy(0, 30 * 16)")  # stops at the end, as the text backend does
    last = len(nodes) - VIEWPORT_NODES
    assert tree_pairs(webarena_tree(tab)) == text_tree(nodes[last:])
