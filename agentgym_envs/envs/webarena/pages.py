"""Pages of the generated sites: a URL and the site state in, a page of accessibility-tree nodes out,
and what the page's buttons and forms do to the state.

URLs follow the real applications' shapes (Magento's ``/catalogsearch/result/?q=``, Postmill's
``/f/<forum>/<id>/<slug>``, GitLab's ``/<namespace>/<project>/-/issues``) so WebArena's
reference URLs read the same here. A page is a flat list of :class:`Node` (with a depth for the
tree's indentation); the browser numbers them when it renders the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote_plus, urlsplit

from agentgym_envs.envs.webarena.sites import (
    FORUM,
    FORUM_USER,
    GITLAB,
    GITLAB_USER,
    SHOP,
    SHOP_CUSTOMER,
    Comment,
    World,
    money,
)


@dataclass(frozen=True)
class Node:
    """One accessibility-tree node. ``href``: where a link goes. ``op``: what a button does
    (``"add_to_cart:<sku>"``). ``field``: the form field a textbox or searchbox fills; with ``op``
    set on a searchbox, pressing Enter in it does that op.

    ``markup`` and ``boxes`` only shape the HTML of the browser backend (``html.py``), never the
    text tree: ``markup`` is the node's element as a small selector (``"textarea"``,
    ``".action.view"``, ``"[data-qa-selector=title_content]"``), ``boxes`` the elements wrapped
    around it, outermost first (``("div.submission__vote", "form.vote")``): consecutive nodes with
    the same boxes share them. They carry the real sites' class names, which WebArena's
    ``program_html`` locators read."""

    role: str
    name: str
    depth: int = 1
    href: str | None = None
    op: str | None = None
    field: str | None = None
    required: bool = False
    markup: str = ""
    boxes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    title: str
    nodes: tuple[Node, ...]


class NotFound(Exception):
    """No page at this URL (the browser shows a 404 page)."""


def not_found_page() -> Page:
    """What the browser shows for a URL with no page (:class:`NotFound`)."""
    return Page("404 Not Found", (Node("heading", "404: this page does not exist"),))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def link(name: str, href: str, depth: int = 1, **markup) -> Node:
    return Node("link", name, depth, href=href, **markup)


def text(name: str, depth: int = 2, **markup) -> Node:
    return Node("StaticText", name, depth, **markup)


# ------------------------------------------------------------------------------ shopping
def product_url(name: str) -> str:
    return f"{SHOP}/{slug(name)}.html"


def category_url(category: str) -> str:
    return f"{SHOP}/{slug(category)}.html"


def search_url(query: str) -> str:
    return f"{SHOP}/catalogsearch/result/?q={quote_plus(query)}"


def order_url(number: str) -> str:
    return f"{SHOP}/sales/order/view/order_id/{int(number)}/"


CART_URL = f"{SHOP}/checkout/cart/"
CHECKOUT_URL = f"{SHOP}/checkout/"
ORDERS_URL = f"{SHOP}/sales/order/history/"


def _shop_header(world: World) -> list[Node]:
    shop = world.shop
    nodes = [
        link("One Stop Market", f"{SHOP}/"),
        text(f"Welcome, {SHOP_CUSTOMER}!", 1),
        link(f"My Cart ({len(shop.cart)})", CART_URL),
        link("My Orders", ORDERS_URL),
        Node("searchbox", "Search", field="q", op="shop_search"),
        Node("menubar", "Categories"),
    ]
    nodes += [link(category, category_url(category), 2) for category in shop.categories()]
    return nodes


def _product_rows(products, depth: int = 1) -> list[Node]:
    nodes = []
    for product in products:
        nodes.append(link(product.name, product_url(product.name), depth))
        nodes.append(
            text(
                f"{money(product.price)} | Rating: {product.rating} | {len(product.reviews)} reviews",
                depth + 1,
            )
        )
    return nodes


def shop_page(world: World, path: str, query: dict[str, str]) -> Page:
    shop = world.shop
    if path in ("", "/"):
        featured = list(shop.products.values())[::6]
        body = [Node("heading", "One Stop Market"), text("Featured products", 1), *_product_rows(featured)]
        return Page("One Stop Market", tuple(body))
    if path == "/catalogsearch/result/":
        q = query.get("q", "")
        found = shop.search(q)
        body = [
            Node("heading", f"Search results for: '{q}'"),
            text(f"{len(found)} items", 1),
            *_product_rows(found),
        ]
        return Page(f"Search results for: '{q}'", tuple(body))
    if path in ("/checkout/cart/", "/checkout/cart"):  # Magento answers both; WebArena configs use both
        return Page("Shopping Cart", tuple(_cart_nodes(world)))
    if path == "/checkout/":
        return Page("Checkout", tuple(_checkout_nodes(world)))
    if path == "/checkout/onepage/success/":
        last = shop.orders[-1]
        body = [
            Node("heading", "Thank you for your purchase!"),
            text(f"Your order number is: {last.number}.", 1),
            link("Continue Shopping", f"{SHOP}/"),
        ]
        return Page("Success Page", tuple(body))
    if path == "/sales/order/history/":
        body = [Node("heading", "My Orders")]
        table = ("div#my-orders-table",)  # Magento's, newest order first
        for order in reversed(shop.orders):
            body.append(
                link(f"Order # {order.number}", order_url(order.number), markup=".action.view", boxes=table)
            )
            body.append(
                text(
                    f"Date: {order.date} | Order Total: {money(order.total)} | Status: {order.status}",
                    boxes=table,
                )
            )
        return Page("My Orders", tuple(body))
    match = re.fullmatch(r"/sales/order/view/order_id/(\d+)/?", path)
    if match:
        order = shop.order(f"{int(match.group(1)):09d}")
        if order is None:
            raise NotFound(path)
        body = [
            Node("heading", f"Order # {order.number}"),
            text(f"Status: {order.status}", 1, markup=".order-status"),
            text(f"Order Date: {order.date}", 1),
            text(f"Ship to: {order.address}", 1, markup=".order-shipping-address"),
        ]
        items = ("div.order-details-items.ordered",)  # Magento's items table: name, SKU, price
        for sku in order.items:
            body.append(link(shop.products[sku].name, product_url(shop.products[sku].name), boxes=items))
            body.append(text(f"SKU: {sku} | Price: {money(shop.products[sku].price)}", boxes=items))
        body.append(text(f"Grand Total: {money(order.total)}", 1))
        return Page(f"Order # {order.number}", tuple(body))
    for category in shop.categories():
        if path == f"/{slug(category)}.html":
            products = shop.in_category(category)
            body = [Node("heading", category), text(f"{len(products)} items", 1), *_product_rows(products)]
            return Page(category, tuple(body))
    for product in shop.products.values():
        if path == f"/{slug(product.name)}.html":
            return Page(product.name, tuple(_product_nodes(product)))
    raise NotFound(path)


def _product_nodes(product) -> list[Node]:
    nodes = [
        Node("heading", product.name),
        text(f"Price: {money(product.price)}", 1),
        text(f"Rating: {product.rating} out of 5 ({len(product.reviews)} reviews)", 1),
        text(f"SKU: {product.sku}", 1),
        Node("button", "Add to Cart", op=f"add_to_cart:{product.sku}", markup="#product-addtocart-button"),
        Node("heading", "Customer Reviews"),
    ]
    for review in product.reviews:
        nodes.append(text(f"{review.author}: {review.stars} stars. {review.text}", 1))
    return nodes


def _cart_nodes(world: World) -> list[Node]:
    shop = world.shop
    nodes = [Node("heading", "Shopping Cart")]
    if not shop.cart:
        return [*nodes, text("You have no items in your shopping cart.", 1)]
    table = ("div#shopping-cart-table",)  # Magento's cart items
    for sku in dict.fromkeys(shop.cart):
        product = shop.products[sku]
        nodes.append(link(product.name, product_url(product.name), boxes=table))
        nodes.append(text(f"{money(product.price)} x {shop.cart.count(sku)}", boxes=table))
        nodes.append(Node("button", f"Remove {product.name}", 2, op=f"remove_from_cart:{sku}", boxes=table))
    total = sum(shop.products[s].price for s in shop.cart)
    nodes += [text(f"Subtotal: {money(total)}", 1), Node("button", "Proceed to Checkout", op="go_checkout")]
    return nodes


def _checkout_nodes(world: World) -> list[Node]:
    shop = world.shop
    if not shop.cart:
        return [Node("heading", "Checkout"), text("Your cart is empty: add items before checking out.", 1)]
    nodes = [Node("heading", "Checkout"), text(f"Customer: {SHOP_CUSTOMER}", 1)]
    for sku in shop.cart:
        nodes.append(text(f"{shop.products[sku].name}: {money(shop.products[sku].price)}", 1))
    nodes += [
        Node("textbox", "Shipping Address", field="address", required=True),
        Node("button", "Place Order", op="place_order"),
    ]
    return nodes


# ------------------------------------------------------------------------------ forum (Postmill)
def forum_url(forum: str) -> str:
    return f"{FORUM}/f/{forum}"


def post_url(post) -> str:
    return f"{FORUM}/f/{post.forum}/{post.id}/{slug(post.title)}"


# Postmill's vote form, classed by the signed-in user's vote (WebArena's vote checks read the class).
VOTE_FORMS = {1: "form.vote.vote--user-upvoted", -1: "form.vote.vote--user-downvoted", 0: "form.vote"}


def forum_search_url(query: str) -> str:
    return f"{FORUM}/search?q={quote_plus(query)}"


def submit_url(forum: str) -> str:
    return f"{FORUM}/submit/{forum}"


def _forum_header(world: World) -> list[Node]:
    return [
        link("Postmill", f"{FORUM}/"),
        link("Forums", f"{FORUM}/forums"),
        Node("searchbox", "Search query", field="q", op="forum_search"),
        link(FORUM_USER, f"{FORUM}/user/{FORUM_USER}"),
    ]


def _post_rows(posts) -> list[Node]:
    nodes = []
    for post in posts:
        nodes.append(link(post.title, post_url(post)))
        nodes.append(
            text(
                f"Submitted by {post.author} in f/{post.forum} | {post.score} points | "
                f"{len(post.comments)} comments"
            )
        )
    return nodes


def forum_page(world: World, path: str, query: dict[str, str]) -> Page:
    forum = world.forum
    if path in ("", "/", "/forums"):
        body = [Node("heading", "List of forums")]
        for name in forum.forums:
            body.append(link(f"f/{name}", forum_url(name)))
            body.append(text(f"{len(forum.posts_in(name))} submissions"))
        return Page("Forums", tuple(body))
    if path == "/search":
        words = query.get("q", "").lower().split()
        found = [p for p in forum.posts.values() if all(w in p.title.lower() for w in words)]
        body = [Node("heading", f"Search results for '{query.get('q', '')}'"), *_post_rows(found)]
        return Page("Search", tuple(body))
    if path == f"/user/{FORUM_USER}":
        mine = [p for p in forum.posts.values() if p.author == FORUM_USER]
        return Page(FORUM_USER, (Node("heading", FORUM_USER), *_post_rows(mine)))
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] in ("f", "submit") and parts[1] in forum.forums:
        name = parts[1]
        if parts[0] == "f":
            body = [
                Node("heading", f"f/{name}"),
                link("Submit", submit_url(name)),
                *_post_rows(forum.posts_in(name)),
            ]
            return Page(f"f/{name}", tuple(body))
        body = [
            Node("heading", f"Create submission in f/{name}"),
            Node("textbox", "Title", field="title", required=True),
            Node("textbox", "Body", field="body", markup="textarea"),
            Node("button", "Create submission", op=f"submit_post:{name}"),
        ]
        return Page("Create submission", tuple(body))
    if len(parts) >= 3 and parts[0] == "f" and is_number(parts[2]):
        post = forum.posts.get(int(parts[2]))
        if post is None or post.forum != parts[1]:
            raise NotFound(path)
        vote = {1: "upvoted", -1: "downvoted", 0: "not voted"}[post.my_vote]
        # Postmill's markup: the submission, its vote form (classed by the user's vote), comments.
        inner = ("div.submission__inner",)
        voting = ("div.submission__vote", VOTE_FORMS[post.my_vote])
        comments = ("div.post-comments",)
        body = [
            Node("heading", post.title, markup=".submission__title", boxes=inner),
            text(f"Submitted by {post.author} in f/{post.forum}", 1, boxes=inner),
            text(post.body, 1, markup=".submission__body", boxes=inner),
            text(f"{post.score} points (you have {vote})", 1, boxes=inner),
            Node("button", "Upvote", op=f"vote:{post.id}:1", boxes=voting),
            Node("button", "Downvote", op=f"vote:{post.id}:-1", boxes=voting),
            Node("heading", f"{len(post.comments)} comments", boxes=comments),
        ]
        for comment in post.comments:
            body.append(text(f"{comment.author}: {comment.text}", 1, markup=".comment", boxes=comments))
        body += [
            Node("textbox", "Comment", field="comment", required=True, markup="textarea"),
            Node("button", "Post comment", op=f"comment:{post.id}"),
        ]
        return Page(post.title, tuple(body))
    raise NotFound(path)


# ------------------------------------------------------------------------------ gitlab
def project_url(path: str) -> str:
    return f"{GITLAB}/{path}"


def issues_url(path: str) -> str:
    return f"{GITLAB}/{path}/-/issues"


def new_issue_url(path: str) -> str:
    return f"{GITLAB}/{path}/-/issues/new"


def _gitlab_header(world: World) -> list[Node]:
    return [
        link("GitLab", f"{GITLAB}/"),
        link("Projects", f"{GITLAB}/dashboard/projects"),
        text(f"Signed in as {GITLAB_USER}", 1),
    ]


def gitlab_page(world: World, path: str, query: dict[str, str]) -> Page:
    projects = world.gitlab.projects
    if path in ("", "/", "/dashboard/projects"):
        body = [Node("heading", "Projects")]
        for project in projects.values():
            body.append(link(project.path.replace("/", " / "), project_url(project.path)))
            body.append(text(f"{project.stars} stars"))
        return Page("Projects · Dashboard · GitLab", tuple(body))
    match = re.fullmatch(r"/([\w.-]+/[\w.-]+)(/-/issues(?:/new|/\d+)?)?/?", path)
    project = projects.get(match.group(1)) if match else None
    if project is None:
        raise NotFound(path)
    rest = match.group(2) or ""
    if rest == "":
        body = [
            Node("heading", project.path),
            text(f"Star {project.stars}", 1),
            link(f"Issues {len(project.open_issues())}", issues_url(project.path)),
        ]
        return Page(f"{project.path} · GitLab", tuple(body))
    if rest == "/-/issues":
        closed = len(project.issues) - len(project.open_issues())
        body = [
            Node("heading", "Issues"),
            text(f"Open {len(project.open_issues())}", 1),
            text(f"Closed {closed}", 1),
            link("New issue", new_issue_url(project.path)),
        ]
        for issue in project.issues:
            body.append(link(issue.title, f"{issues_url(project.path)}/{issue.number}"))
            state = "Open" if issue.state == "opened" else "Closed"
            body.append(
                text(f"#{issue.number} · {state} · opened by {issue.author} · {issue.label or 'no label'}")
            )
        return Page(f"Issues · {project.path} · GitLab", tuple(body))
    if rest == "/-/issues/new":
        body = [
            Node("heading", "New Issue"),
            Node("textbox", "Title", field="title", required=True),
            Node("textbox", "Description", field="description", markup="textarea"),
            Node("button", "Create issue", op=f"create_issue:{project.path}"),
        ]
        return Page(f"New Issue · {project.path} · GitLab", tuple(body))
    number = int(rest.rsplit("/", 1)[1])
    issue = next((i for i in project.issues if i.number == number), None)
    if issue is None:
        raise NotFound(path)
    header, description = ("div.detail-page-header",), ("div.detail-page-description",)  # GitLab's
    body = [
        Node("heading", issue.title, markup="[data-qa-selector=title_content]", boxes=header),
        text("Open" if issue.state == "opened" else "Closed", 1, markup=".issuable-status", boxes=header),
        text(f"Issue #{issue.number} opened by {issue.author}", 1, markup=".issuable-meta", boxes=header),
        text(issue.description or "No description.", 1, markup=".description", boxes=description),
    ]
    return Page(f"{issue.title} (#{issue.number}) · Issues · GitLab", tuple(body))


# ------------------------------------------------------------------------------ routing and ops
# A site's pages (its body by path) and the header every page of it starts with.
SITE_PAGES = {SHOP: shop_page, FORUM: forum_page, GITLAB: gitlab_page}
SITE_HEADERS = {SHOP: _shop_header, FORUM: _forum_header, GITLAB: _gitlab_header}


def url_problem(url: str) -> str | None:
    """Why urllib cannot read ``url`` (a '[' that opens no IPv6 host, characters that NFKC turns
    into URL syntax, ...), or None. urllib raises ValueError on such URLs; a typed URL is model
    text, so the browser asks here first and explains instead."""
    try:
        urlsplit(url)
    except ValueError as error:
        return str(error)
    return None


def site_of(url: str) -> str | None:
    """The origin of the site ``url`` is on, or None (also for a URL urllib cannot read)."""
    if url_problem(url):
        return None
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if origin in SITE_PAGES else None


def is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` is also true of '²', which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def render_page(world: World, url: str, message: str = "") -> Page:
    """The page at ``url``: the site's header, ``message`` (a form's flash), then the page's
    own nodes; raises :class:`NotFound` for none."""
    origin = site_of(url)
    if origin is None:
        raise NotFound(url)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    page = SITE_PAGES[origin](world, parts.path, query)
    notice = [text(message, 1)] if message else []
    return Page(page.title, (*SITE_HEADERS[origin](world), *notice, *page.nodes))


def perform(world: World, op: str, form: dict[str, str]) -> tuple[str | None, str]:
    """Do a button's (or an Enter-submitted searchbox's) op. Returns the URL to go to (None: stay)
    and a message the page shows, as the real sites flash one after a form."""
    kind, _, argument = op.partition(":")
    if kind == "shop_search":
        return search_url(form.get("q", "").strip()), ""
    if kind == "forum_search":
        return forum_search_url(form.get("q", "").strip()), ""
    if kind == "add_to_cart":
        world.shop.cart.append(argument)
        return None, f"You added {world.shop.products[argument].name} to your shopping cart."
    if kind == "remove_from_cart":
        world.shop.cart = [s for s in world.shop.cart if s != argument]
        return None, "The item was removed from your cart."
    if kind == "go_checkout":
        return CHECKOUT_URL, ""
    if kind == "place_order":
        address = form.get("address", "").strip()
        if not address:
            return None, "This is a required field: Shipping Address."
        world.shop.place_order(address)
        return f"{SHOP}/checkout/onepage/success/", ""
    if kind == "vote":
        post_id, direction = argument.split(":")
        world.forum.vote(int(post_id), int(direction))
        return None, "Your vote was recorded."
    if kind == "comment":
        body = form.get("comment", "").strip()
        if not body:
            return None, "The comment cannot be empty."
        world.forum.posts[int(argument)].comments.append(Comment(FORUM_USER, body))
        return None, "Your comment was posted."
    if kind == "submit_post":
        title = form.get("title", "").strip()
        if not title:
            return None, "The title cannot be empty."
        post = world.forum.submit(argument, title, form.get("body", "").strip())
        return post_url(post), ""
    if kind == "create_issue":
        title = form.get("title", "").strip()
        if not title:
            return None, "Title can't be blank."
        issue = world.gitlab.projects[argument].create_issue(title, form.get("description", "").strip())
        return f"{issues_url(argument)}/{issue.number}", ""
    raise ValueError(f"unknown op {op!r}")  # a bug in a page, not a user error
