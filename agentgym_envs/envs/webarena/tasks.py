"""WebArena-style tasks over the generated sites, from intent templates, one per task id.

WebArena's 812 tasks are instances of 241 intent templates in three kinds, all kept here:
information seeking (answered with ``stop [answer]``, judged by ``string_match``), navigation
(judged by the URL the agent ends on, ``url_match``) and content and configuration changes
(judged by the sites' state afterwards: ``state_match`` reads the world in Python, and each such
task also carries WebArena's ``program_html`` checks of the same facts, which the browser backend
reads from the pages). Task ``i`` plays on the world generated from seed ``i``
with template ``i % len(TEMPLATES)``; its config has WebArena's JSON shape (``intent``,
``intent_template``, ``start_url``, ``sites``, ``eval``), plus a ``plan`` that only the scripted
expert reads: the pages to walk through and the target, never element ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from agentgym_envs.envs.webarena import pages
from agentgym_envs.envs.webarena.sites import FORUM, FORUM_USER, GITLAB, GITLAB_USER, SHOP, World, money

Template = Callable[[World, np.random.Generator], dict[str, Any]]

SHOP_HOME, FORUM_HOME, GITLAB_HOME = f"{SHOP}/", f"{FORUM}/", f"{GITLAB}/"
ADDRESSES = (
    "12 Harbor Way, Portland, OR",
    "480 Sunset Blvd, Los Angeles, CA",
    "7 Beacon Street, Boston, MA",
    "221 Baker Lane, Madison, WI",
    "1600 River Road, Austin, TX",
)
COMMENTS = (
    "Great point, thanks for posting!",
    "I had the same experience.",
    "This deserves more upvotes.",
    "Could you share a source?",
    "Bookmarking this for later.",
)
NEW_POSTS = (
    ("Weekly discussion thread", "Share what you have been up to this week."),
    ("Beginner questions", "Ask anything, no question is too small."),
    ("Best of the year", "What stood out to you this year?"),
)
NEW_ISSUES = (
    "Add a contributing guide",
    "Document the release process",
    "Fix broken links in docs",
    "Add unit tests for parser",
)


def _pick(rng: np.random.Generator, items):
    items = list(items)
    return items[int(rng.integers(len(items)))]


SITE_OF_HOME = {SHOP_HOME: "shopping", FORUM_HOME: "reddit", GITLAB_HOME: "gitlab"}  # WebArena's names


def task(template: str, start_url: str, evaluation: dict, plan: dict, **slots: str) -> dict[str, Any]:
    """A config in WebArena's shape; the intent is the template with its ``{{slot}}``s filled."""
    intent = re.sub(r"\{\{(\w+)\}\}", lambda slot: str(slots[slot.group(1)]), template)
    return {
        "sites": [SITE_OF_HOME[start_url]],
        "intent_template": template,
        "intent": intent,
        "start_url": start_url,
        "require_login": True,
        "eval": evaluation,
        "plan": plan,
    }


def answer_eval(kind: str, reference) -> dict:
    return {"eval_types": ["string_match"], "reference_answers": {kind: reference}}


def url_eval(url: str) -> dict:
    return {"eval_types": ["url_match"], "reference_url": url}


def state_eval(check: dict, program: list[dict]) -> dict:
    """A change judged on the sites' state: ``check`` in Python on the world (text backend), and
    ``program`` (WebArena's ``program_html``: the same fact read from the pages by the browser)."""
    return {"eval_types": ["state_match"], "state_checks": [check], "program_html": program}


def html_check(url: str, locator: str, **required_contents) -> dict:
    """One program_html check in WebArena's shape: on the page at ``url`` ("last": where the agent
    stopped), the text the JS ``locator`` gives must hold ``exact_match`` or ``must_include``."""
    return {"url": url, "locator": locator, "required_contents": required_contents}


def outer_text(selector: str) -> str:
    return f"document.querySelector('{selector}').outerText"


# A plan step: on a page (URL), do an action on a node found by role and name.
def click(url: str, role: str, name: str) -> tuple:
    return (url, "click", role, name, "")


def search(url: str, role: str, name: str, query: str) -> tuple:
    return (url, "type", role, name, query)


def plan(hops: list[tuple], target: str, answer: str = "", finish: str = "", **details) -> dict:
    return {"hops": hops, "target": target, "answer": answer, "finish": finish, **details}


# ------------------------------------------------------------------------------ shopping
def _product_hops(product) -> list[tuple]:
    results = pages.search_url(product.name)
    return [search(SHOP_HOME, "searchbox", "Search", product.name), click(results, "link", product.name)]


def product_price(world: World, rng) -> dict:
    p = _pick(rng, world.shop.products.values())
    return task(
        "What is the price of {{product}}?",
        SHOP_HOME,
        answer_eval("must_include", [f"{p.price:.2f}"]),
        plan(_product_hops(p), pages.product_url(p.name), answer=money(p.price)),
        product=p.name,
    )


def product_rating(world: World, rng) -> dict:
    p = _pick(rng, (p for p in world.shop.products.values() if p.reviews))
    return task(
        "What is the average customer rating of {{product}}, out of 5?",
        SHOP_HOME,
        answer_eval("must_include", [str(p.rating)]),
        plan(_product_hops(p), pages.product_url(p.name), answer=str(p.rating)),
        product=p.name,
    )


def review_count(world: World, rng) -> dict:
    p = _pick(rng, world.shop.products.values())
    n = str(len(p.reviews))
    return task(
        "How many reviews does {{product}} have?",
        SHOP_HOME,
        answer_eval("exact_match", n),
        plan(_product_hops(p), pages.product_url(p.name), answer=n),
        product=p.name,
    )


def most_reviewed_in_category(world: World, rng) -> dict:
    category = _pick(rng, world.shop.categories())
    best = max(world.shop.in_category(category), key=lambda p: len(p.reviews))
    hops = [click(SHOP_HOME, "link", category)]
    return task(
        "Which product in the {{category}} category has the most reviews?",
        SHOP_HOME,
        answer_eval("fuzzy_match", [best.name]),
        plan(hops, pages.category_url(category), answer=best.name),
        category=category,
    )


def cheapest_in_category(world: World, rng) -> dict:
    category = _pick(rng, world.shop.categories())
    cheapest = min(world.shop.in_category(category), key=lambda p: p.price)
    hops = [click(SHOP_HOME, "link", category)]
    return task(
        "What is the cheapest product in the {{category}} category?",
        SHOP_HOME,
        answer_eval("fuzzy_match", [cheapest.name]),
        plan(hops, pages.category_url(category), answer=cheapest.name),
        category=category,
    )


def _order_hops(order) -> list[tuple]:
    return [click(SHOP_HOME, "link", "My Orders"), click(pages.ORDERS_URL, "link", f"Order # {order.number}")]


def order_total(world: World, rng) -> dict:
    order = _pick(rng, world.shop.orders)
    return task(
        "What was the grand total of my order number {{number}}?",
        SHOP_HOME,
        answer_eval("must_include", [f"{order.total:.2f}"]),
        plan(_order_hops(order), pages.order_url(order.number), answer=money(order.total)),
        number=order.number,
    )


def order_status(world: World, rng) -> dict:
    order = _pick(rng, world.shop.orders)
    return task(
        "What is the status of my order number {{number}}?",
        SHOP_HOME,
        answer_eval("exact_match", order.status),
        plan(_order_hops(order), pages.order_url(order.number), answer=order.status),
        number=order.number,
    )


def open_product_page(world: World, rng) -> dict:
    p = _pick(rng, world.shop.products.values())
    url = pages.product_url(p.name)
    return task(
        "Open the product page of {{product}}.",
        SHOP_HOME,
        url_eval(url),
        plan(_product_hops(p), url),
        product=p.name,
    )


def show_search_results(world: World, rng) -> dict:
    p = _pick(rng, world.shop.products.values())
    noun = p.name.split(" ", 2)[2].lower()
    url = pages.search_url(noun)
    return task(
        "Show me the search results for '{{query}}' in the shop.",
        SHOP_HOME,
        url_eval(url),
        plan([search(SHOP_HOME, "searchbox", "Search", noun)], url),
        query=noun,
    )


def add_to_cart(world: World, rng) -> dict:
    p = _pick(rng, world.shop.products.values())
    return task(
        "Add {{product}} to my shopping cart.",
        SHOP_HOME,
        state_eval(
            {"check": "cart_contains", "sku": p.sku},
            [html_check(pages.CART_URL, outer_text("#shopping-cart-table"), must_include=[p.name])],
        ),
        plan(_product_hops(p), pages.product_url(p.name), finish="add_to_cart", sku=p.sku),
        product=p.name,
    )


def buy_product(world: World, rng) -> dict:
    p = _pick(rng, world.shop.products.values())
    address = _pick(rng, ADDRESSES)
    order = pages.order_url(str(int(world.shop.orders[-1].number) + 1))  # the order the task places
    program = [
        html_check(order, outer_text(".order-details-items.ordered"), must_include=[p.sku]),
        html_check(order, outer_text(".order-shipping-address"), must_include=[address]),
        html_check(order, outer_text(".order-status"), must_include=["Pending"]),
    ]
    return task(
        "Buy {{product}} and ship it to {{address}}.",
        SHOP_HOME,
        state_eval({"check": "order_placed", "sku": p.sku, "address": address}, program),
        plan(_product_hops(p), pages.product_url(p.name), finish="buy", sku=p.sku, address=address),
        product=p.name,
        address=address,
    )


# ------------------------------------------------------------------------------ forum
# Postmill's vote form is classed by the user's vote (WebArena's vote tasks read it so).
VOTE_FORM_CLASS = "document.querySelector('div.submission__vote').querySelector('form').getAttribute('class')"


def _pick_post(world: World, rng):
    return _pick(rng, world.forum.posts.values())


def _post_hops(post) -> list[tuple]:
    return [
        click(FORUM_HOME, "link", f"f/{post.forum}"),
        click(pages.forum_url(post.forum), "link", post.title),
    ]


def post_points(world: World, rng) -> dict:
    post = _pick_post(world, rng)
    return task(
        "How many points does the post '{{title}}' in f/{{forum}} have?",
        FORUM_HOME,
        answer_eval("exact_match", str(post.score)),
        plan(_post_hops(post), pages.post_url(post), answer=str(post.score)),
        title=post.title,
        forum=post.forum,
    )


def post_author(world: World, rng) -> dict:
    post = _pick_post(world, rng)
    return task(
        "Who submitted the post '{{title}}' in f/{{forum}}?",
        FORUM_HOME,
        answer_eval("exact_match", post.author),
        plan(_post_hops(post), pages.post_url(post), answer=post.author),
        title=post.title,
        forum=post.forum,
    )


def post_comment_count(world: World, rng) -> dict:
    post = _pick_post(world, rng)
    n = str(len(post.comments))
    return task(
        "How many comments are there on the post '{{title}}' in f/{{forum}}?",
        FORUM_HOME,
        answer_eval("exact_match", n),
        plan(_post_hops(post), pages.post_url(post), answer=n),
        title=post.title,
        forum=post.forum,
    )


def open_forum(world: World, rng) -> dict:
    name = _pick(rng, world.forum.forums)
    url = pages.forum_url(name)
    return task(
        "Go to the {{forum}} forum.",
        FORUM_HOME,
        url_eval(url),
        plan([click(FORUM_HOME, "link", f"f/{name}")], url),
        forum=name,
    )


def upvote_post(world: World, rng) -> dict:
    post = _pick(rng, (p for p in world.forum.posts.values() if p.my_vote == 0))
    return task(
        "Upvote the post '{{title}}' in f/{{forum}}.",
        FORUM_HOME,
        state_eval(
            {"check": "post_vote", "post_id": post.id, "vote": 1},
            [html_check(pages.post_url(post), VOTE_FORM_CLASS, must_include=["vote vote--user-upvoted"])],
        ),
        plan(_post_hops(post), pages.post_url(post), finish="upvote"),
        title=post.title,
        forum=post.forum,
    )


def comment_on_post(world: World, rng) -> dict:
    post = _pick_post(world, rng)
    comment = _pick(rng, COMMENTS)
    return task(
        "Reply to the post '{{title}}' in f/{{forum}} with the comment \"{{comment}}\".",
        FORUM_HOME,
        state_eval(
            {"check": "comment_posted", "post_id": post.id, "text": comment},
            [
                html_check(
                    pages.post_url(post),
                    outer_text(".post-comments"),
                    must_include=[f"{FORUM_USER}: {comment}"],
                )
            ],
        ),
        plan(_post_hops(post), pages.post_url(post), finish="comment", text=comment),
        title=post.title,
        forum=post.forum,
        comment=comment,
    )


def create_post(world: World, rng) -> dict:
    name = _pick(rng, world.forum.forums)
    title, body = _pick(rng, NEW_POSTS)
    hops = [click(FORUM_HOME, "link", f"f/{name}"), click(pages.forum_url(name), "link", "Submit")]
    return task(
        'Create a post in f/{{forum}} titled "{{title}}" with the body "{{body}}".',
        FORUM_HOME,
        state_eval(
            {"check": "post_created", "forum": name, "title": title, "body": body},
            [
                html_check("last", outer_text(".submission__title"), exact_match=title),
                html_check(
                    "last",
                    outer_text(".submission__inner"),
                    must_include=[f"Submitted by {FORUM_USER} in f/{name}", body],
                ),
            ],
        ),
        plan(hops, pages.submit_url(name), finish="create_post", title=title, body=body),
        forum=name,
        title=title,
        body=body,
    )


# ------------------------------------------------------------------------------ gitlab
def _project_hops(project, issues: bool) -> list[tuple]:
    hops = [click(GITLAB_HOME, "link", project.path.replace("/", " / "))]
    if issues:
        hops.append(click(pages.project_url(project.path), "link", "Issues"))
    return hops


def open_issue_count(world: World, rng) -> dict:
    project = _pick(rng, world.gitlab.projects.values())
    n = str(len(project.open_issues()))
    return task(
        "How many open issues does the project {{project}} have?",
        GITLAB_HOME,
        answer_eval("exact_match", n),
        plan(_project_hops(project, True), pages.issues_url(project.path), answer=n),
        project=project.path,
    )


def project_stars(world: World, rng) -> dict:
    project = _pick(rng, world.gitlab.projects.values())
    n = str(project.stars)
    return task(
        "How many stars does the project {{project}} have?",
        GITLAB_HOME,
        answer_eval("exact_match", n),
        plan(_project_hops(project, False), pages.project_url(project.path), answer=n),
        project=project.path,
    )


def open_issues_page(world: World, rng) -> dict:
    project = _pick(rng, world.gitlab.projects.values())
    url = pages.issues_url(project.path)
    return task(
        "Open the issues page of the project {{project}}.",
        GITLAB_HOME,
        url_eval(url),
        plan(_project_hops(project, True), url),
        project=project.path,
    )


def issue_author(world: World, rng) -> dict:
    project = _pick(rng, world.gitlab.projects.values())
    issue = _pick(rng, project.issues)
    return task(
        "Who opened the issue '{{title}}' in the project {{project}}?",
        GITLAB_HOME,
        answer_eval("exact_match", issue.author),
        plan(_project_hops(project, True), pages.issues_url(project.path), answer=issue.author),
        title=issue.title,
        project=project.path,
    )


def create_issue(world: World, rng) -> dict:
    project = _pick(rng, world.gitlab.projects.values())
    title = _pick(rng, NEW_ISSUES)
    hops = [*_project_hops(project, True), click(pages.issues_url(project.path), "link", "New issue")]
    return task(
        'Create an issue titled "{{title}}" in the project {{project}}.',
        GITLAB_HOME,
        state_eval(
            {"check": "issue_created", "project": project.path, "title": title},
            [
                html_check("last", outer_text('[data-qa-selector="title_content"]'), exact_match=title),
                html_check("last", outer_text(".issuable-meta"), must_include=[f"opened by {GITLAB_USER}"]),
                html_check("last", "document.location.pathname", must_include=[f"/{project.path}/-/issues/"]),
            ],
        ),
        plan(hops, pages.new_issue_url(project.path), finish="create_issue", title=title),
        title=title,
        project=project.path,
    )


# Interleaved so that the first 20 task ids (AgentEval) cover every site and every kind of task.
TEMPLATES: tuple[Template, ...] = (
    product_price,
    post_points,
    open_issue_count,
    buy_product,
    open_forum,
    create_issue,
    most_reviewed_in_category,
    upvote_post,
    open_issues_page,
    add_to_cart,
    comment_on_post,
    project_stars,
    order_total,
    create_post,
    issue_author,
    open_product_page,
    post_author,
    cheapest_in_category,
    show_search_results,
    post_comment_count,
    product_rating,
    review_count,
    order_status,
)


def make_task(task_id: int, world: World) -> dict[str, Any]:
    """Task ``task_id`` on its own world (``generate_world(task_id)``), deterministic."""
    template = TEMPLATES[task_id % len(TEMPLATES)]
    config = template(world, np.random.default_rng([task_id, 0x7461736B]))
    return {"task_id": task_id, **config}
