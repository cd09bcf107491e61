"""WebArena's evaluators: ``string_match`` on the answer given with ``stop``, ``url_match`` on the
page the agent ends on, and program checks on the sites' state: ``state_match`` reads the world in
Python (the text backend), ``program_html`` reads the same facts from the live pages as WebArena
does (the browser backend; every generated task with ``state_match`` also carries its
``program_html`` list).

A task's ``eval`` block has WebArena's config shape::

    {"eval_types": ["string_match"], "reference_answers": {"must_include": ["24.99"]}}
    {"eval_types": ["url_match"], "reference_url": "http://localhost:7770/electronics.html"}
    {"eval_types": ["state_match"], "state_checks": [{"check": "order_placed", "sku": ..., "address": ...}]}

Every listed type must pass. ``fuzzy_match`` in WebArena asks an LLM whether the answer means the
reference; no model is called here, so it is a match after normalising both (case, punctuation,
articles, spaces), with the reference contained in the answer. WebArena's "N/A" reference (the task
cannot be done) is matched the same way.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from agentgym_envs.envs.webarena.sites import FORUM_USER, GITLAB_USER, World

_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation if c not in "$."})
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise(text: str) -> str:
    """Lower case, punctuation (but '$' and '.') to spaces, no articles, single spaces."""
    text = _ARTICLES.sub(" ", str(text).lower().translate(_PUNCTUATION))
    return " ".join(text.replace(". ", " ").rstrip(".").split())


# ------------------------------------------------------------------------------ string_match
# A number or word, with inner '.', ',', "'" or '-' ("3.5", "1,200", "don't"), or one other
# character: near enough NLTK's word_tokenize for WebArena's one-character references.
_TOKEN = re.compile(r"\w+(?:[.,'-]\w+)*|\S")


def clean_answer(text: str) -> str:
    """WebArena's answer cleaning: trimmed, one pair of surrounding quotes removed, lower case."""
    text = str(text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text.lower()


def exact_match(answer: str, reference: str) -> bool:
    return clean_answer(answer) == clean_answer(reference)


def must_include(answer: str, references: list[str]) -> bool:
    """Each reference inside the answer; a lone one-character reference ("0", "5") must be a
    whole token of it, as WebArena tokenises it, so "10" does not include "0"."""
    said = clean_answer(answer)
    if len(references) == 1 and len(clean_answer(references[0])) == 1:
        return clean_answer(references[0]) in _TOKEN.findall(said)
    return all(clean_answer(r) in said for r in references)


def fuzzy_match(answer: str, references: list[str] | str) -> bool:
    references = [references] if isinstance(references, str) else references
    said = normalise(answer)
    return all(normalise(r) in said for r in references) and bool(said)


def string_match(answer: str, reference_answers: dict[str, Any]) -> bool:
    checks = {"exact_match": exact_match, "must_include": must_include, "fuzzy_match": fuzzy_match}
    unknown = set(reference_answers) - set(checks)
    if unknown:
        raise ValueError(f"unknown string_match keys {sorted(unknown)}")
    return all(checks[kind](answer, reference) for kind, reference in reference_answers.items())


# ------------------------------------------------------------------------------ url_match
def _url_parts(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url.strip())
    base = f"{parts.netloc}{unquote_plus(parts.path).rstrip('/')}".lower()
    query = {k: sorted(v.lower().strip() for v in vs) for k, vs in parse_qs(parts.query).items()}
    return base, query


def url_match(url: str, reference_url: str, rule: str | None = None) -> bool:
    """The base path and the query values must match one of the references (alternatives joined
    by ' |OR| '). WebArena's own configs name their rule, ``url_note`` "GOLD in PRED" (its default):
    see :func:`gold_in_pred`."""
    if rule == "GOLD in PRED":
        return gold_in_pred(url, reference_url)
    if rule is not None:
        raise ValueError(f"unknown url_match rule {rule!r}; WebArena's is 'GOLD in PRED'")
    base, query = _url_parts(url)
    for reference in reference_url.split(" |OR| "):
        ref_base, ref_query = _url_parts(reference)
        if base == ref_base and all(query.get(k) == v for k, v in ref_query.items()):
            return True
    return False


def gold_in_pred(url: str, reference_url: str) -> bool:
    """WebArena's URLEvaluator: some reference's host and path inside the page's (as text, no
    decoding), and for every query key of any reference, one of its values among the page's."""
    page = urlsplit(url.strip().rstrip("/"))
    page_base, page_query = page.netloc + page.path, parse_qs(page.query)
    bases, wanted = [], {}
    for reference in reference_url.split(" |OR| "):
        parts = urlsplit(reference.strip().rstrip("/"))
        bases.append(parts.netloc + parts.path)
        for key, values in parse_qs(parts.query).items():
            wanted.setdefault(key, set()).update(values)
    return any(base in page_base for base in bases) and all(
        any(value in page_query.get(key, []) for value in values) for key, values in wanted.items()
    )


# ------------------------------------------------------------------------------ state_match
def _order_placed(world: World, sku: str, address: str) -> bool:
    return any(
        o.status == "Pending" and sku in o.items and normalise(address) in normalise(o.address)
        for o in world.shop.orders
    )


def _cart_contains(world: World, sku: str) -> bool:
    return sku in world.shop.cart


def _post_vote(world: World, post_id: int, vote: int) -> bool:
    return world.forum.posts[post_id].my_vote == vote


def _comment_posted(world: World, post_id: int, text: str) -> bool:
    return any(
        c.author == FORUM_USER and normalise(c.text) == normalise(text)
        for c in world.forum.posts[post_id].comments
    )


def _post_created(world: World, forum: str, title: str, body: str) -> bool:
    return any(
        p.author == FORUM_USER
        and p.forum == forum
        and normalise(p.title) == normalise(title)
        and normalise(body) in normalise(p.body)
        for p in world.forum.posts.values()
    )


def _issue_created(world: World, project: str, title: str) -> bool:
    issues = world.gitlab.projects[project].issues
    return any(i.author == GITLAB_USER and normalise(i.title) == normalise(title) for i in issues)


STATE_CHECKS = {
    "order_placed": _order_placed,
    "cart_contains": _cart_contains,
    "post_vote": _post_vote,
    "comment_posted": _comment_posted,
    "post_created": _post_created,
    "issue_created": _issue_created,
}


def state_match(world: World, checks: list[dict[str, Any]]) -> bool:
    for check in checks:
        arguments = {k: v for k, v in check.items() if k != "check"}
        if not STATE_CHECKS[check["check"]](world, **arguments):
            return False
    return True


# ------------------------------------------------------------------------------ program_html
Read = Callable[[str, str], str]
"""``read(url, locator)``, given by the browser backend: open ``url`` in a new tab of the
episode's browser (``"last"``: the page the agent ended on, as it is); return the page's HTML for
an empty locator, else the text of what ``page.evaluate(f"() => {locator}")`` returns ('' when it
throws), as WebArena's ``HTMLContentEvaluator`` reads it. URLs are the sites' canonical ones."""


class UnsupportedCheck(ValueError):
    """A ``program_html`` check this function cannot run as written."""


def check_is_supported(check: dict[str, Any]) -> None:
    """Raises :class:`UnsupportedCheck`, saying why, for a check that cannot run here."""
    for field in ("url", "locator"):
        if str(check.get(field, "")).startswith("func:"):
            raise UnsupportedCheck(
                f"program_html {field} {check[field]!r} calls one of WebArena's helpers: resolve it "
                "first (webarena_configs.resolve_program_html)"
            )
    locator = check.get("locator", "")
    if locator.strip() and not locator.startswith(("document.", "[...document.")):
        raise UnsupportedCheck(f"unknown program_html locator {locator!r}")  # WebArena refuses it too
    if not {"exact_match", "must_include"} & set(check["required_contents"]):
        raise UnsupportedCheck(f"unknown required_contents {sorted(check['required_contents'])}")


def locator_expression(check: dict[str, Any]) -> str:
    """The JS ``read`` evaluates: the check's ``prep_actions`` (WebArena runs them in turn, stops at
    the first that throws, and reads the locator anyway), then its locator."""
    locator, preps = check["locator"], check.get("prep_actions") or []
    if not preps or not locator.strip():
        return locator
    steps = " ".join(f"({prep});" for prep in preps)
    return f"(() => {{ try {{ {steps} }} catch (e) {{}} return ({locator}); }})()"


def contents_match(selected: str, required: dict[str, Any]) -> bool:
    """WebArena's ``required_contents``: ``exact_match`` (one string) else ``must_include`` (each
    item present, an item met by any of its ``" |OR| "`` alternatives), cleaned as it cleans."""
    page = clean_answer(html.unescape(selected))
    if "exact_match" in required:
        return page == clean_answer(required["exact_match"])
    return all(
        any(clean_answer(alternative) in page for alternative in str(item).split(" |OR| "))
        for item in required["must_include"]
    )


def program_html(checks: list[dict[str, Any]], read: Read) -> bool:
    """WebArena's ``program_html``: each check's page (``url``: an address, or ``"last"``), read by
    its ``locator`` ('' for the whole HTML, else a JS expression), holds its ``required_contents``.
    A check with a ``value`` (a helper's answer from the shop's REST API, resolved beforehand) is
    checked on that text, with no page read. Every check is vetted before any page is read."""
    for check in checks:
        check_is_supported(check)
    for check in checks:
        selected = check["value"] if "value" in check else read(check["url"], locator_expression(check))
        if not contents_match(str(selected), check["required_contents"]):
            return False
    return True


# ------------------------------------------------------------------------------ the task's verdict
EVAL_TYPES = ("string_match", "url_match", "state_match", "program_html")


def evaluate(
    evaluation: dict[str, Any], *, answer: str, url: str, world: World | None, read: Read | None = None
) -> bool:
    """Whether the episode that ended with ``stop [answer]`` on ``url`` did the task. Given
    ``read`` (the browser backend), a generated task's ``program_html`` list replaces its
    ``state_match``: the same facts, read from the pages as WebArena reads them."""
    verdicts = []
    for kind in evaluation["eval_types"]:
        if kind == "string_match":
            verdicts.append(string_match(answer, evaluation["reference_answers"]))
        elif kind == "url_match":
            verdicts.append(url_match(url, evaluation["reference_url"], evaluation.get("url_note")))
        elif kind == "state_match" and (read is None or "program_html" not in evaluation):
            verdicts.append(state_match(world, evaluation["state_checks"]))
        elif kind in ("state_match", "program_html"):
            if read is None:
                raise ValueError("program_html reads the live pages: it needs the browser backend")
            verdicts.append(program_html(evaluation["program_html"], read))
        else:
            raise ValueError(f"eval type {kind!r} cannot run here; known: {', '.join(EVAL_TYPES)}")
    return bool(verdicts) and all(verdicts)
