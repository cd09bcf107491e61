"""The generated sites served as real web pages: one loopback HTTP server per site, so the shop, the
forum and GitLab are three origins as in WebArena.

API (the browser backend codes against it)::

    server = SiteServer(world)        # or SiteServer() and set_world(...) later
    server.start()                    # idempotent; binds a free 127.0.0.1 port per site
    server.origins                    # {"http://localhost:7770": "http://127.0.0.1:41234", ...}
    server.live_url(url)              # a canonical URL (http://localhost:7770/x) -> its live URL
    server.canonical_url(url)         # a live URL -> the canonical one (other URLs unchanged)
    server.set_world(world)           # a new task's world (thread-safe; waits for requests in flight)
    server.world                      # the world served (the evaluators read it)
    server.close()                    # stops the threads and frees the ports; also `with SiteServer()`

What a site serves:

- every page of ``pages.py`` at the same path and query as the text backend's URLs, as HTML from
  ``html.py`` (its docstring: one node per 16 px row, roles and names as in the text tree); a URL
  with no page is a 404 with the text backend's 404 page. Responses are ``no-store`` (Back shows
  the site as it is now, as the text backend re-renders) with a CSP that allows no script.
- forms: a button POSTs ``op=<its op>`` and the form's fields to the page's own URL. The server
  renders that page again and accepts only an op the page shows and only the page's fields (a
  stale form is sent back with a message), runs ``pages.perform`` and answers 303 to the page
  ``perform`` names, or to the same page; ``perform``'s message is shown once on the page after the
  redirect (a ``flash_<site>`` cookie). The shop and forum searches are GET forms.
- links inside a site are root-relative; links to another site use that site's live origin.
- login pages at WebArena's auto-login paths, with the fields its ``auto_login.py`` fills: the
  shop's ``/customer/account/login/`` (labels "Email", "Password", button "Sign In"), the forum's
  ``/login`` ("Username", "Password", "Log in"), GitLab's ``/users/sign_in`` (test ids
  ``username-field``, ``password-field``, ``sign-in-button``). WebArena's accounts sign in and get a
  ``session_<site>`` cookie; pages need no login and always render for WebArena's default user.
- nothing from a request is evaluated; every string in a page is escaped.

Where WebArena's ``program_html`` locators point (the class names are the real sites'):

- shop order history ``/sales/order/history/``: ``#my-orders-table``, newest first, order links
  ``a.action.view`` (``func:shopping_get_latest_order_url()`` resolves through them);
- order ``/sales/order/view/order_id/<n>/``: ``.order-status``, ``.order-shipping-address``,
  ``.order-details-items.ordered`` (item names and ``SKU: <sku>``);
- cart ``/checkout/cart/``: ``#shopping-cart-table`` (item names); product: ``#product-addtocart-button``;
- forum post ``/f/<forum>/<id>/<slug>``: ``.submission__inner`` (``.submission__title``,
  "Submitted by ...", ``.submission__body``), ``div.submission__vote form`` classed ``vote``,
  ``vote vote--user-upvoted`` or ``vote vote--user-downvoted``; ``.post-comments`` with one
  ``.comment`` row per comment ("<author>: <text>");
- GitLab issue ``/<ns>/<project>/-/issues/<n>``: ``[data-qa-selector="title_content"]``,
  ``.issuable-status``, ``.issuable-meta`` ("Issue #n opened by <user>"), ``.detail-page-description``.

The generated tasks' checks (``tasks.py``) use these on fixed pages (the cart, the post, the order
the task will place: the next order number) or on ``"last"`` (a created post or issue, where the
site leaves the agent). ``evaluators.evaluate(..., read=...)`` runs them in place of state_match.

Where the browser differs from the text backend: a form that stays on its page (a vote, a stale
form) reloads it through a 303, which adds a history entry (as on the real sites; the text backend
adds none); Chromium gives textboxes a ``required`` property and typed text as a child StaticText;
WebArena's scroll moves one screen (45 rows), the text backend's 30 (rows are 16 px, so either
lands on whole rows).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from agentgym_envs.envs.webarena.html import page_html, site_path
from agentgym_envs.envs.webarena.pages import (
    SITE_HEADERS,
    Node,
    NotFound,
    Page,
    not_found_page,
    perform,
    render_page,
    site_of,
    text,
    url_problem,
)
from agentgym_envs.envs.webarena.sites import FORUM, GITLAB, SHOP, SITE_NAMES, World
from agentgym_envs.envs.webarena.webarena_configs import ACCOUNTS

logger = logging.getLogger(__name__)
HOST = "127.0.0.1"
MAX_FORM_BYTES = 1 << 20  # a form is a few fields of model text; more is refused (413)
STALE_FORM = "The page changed before the form was sent; here it is as it is now."
SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
    ("X-Content-Type-Options", "nosniff"),
)


# ------------------------------------------------------------------------------ login pages
# The login form of each site, as WebArena's auto-login fills it (its accounts: ACCOUNTS).
LOGIN_PATHS = {SHOP: "/customer/account/login/", FORUM: "/login", GITLAB: "/users/sign_in"}
LOGIN_FORMS = {
    SHOP: (
        "Customer Login",
        Node("textbox", "Email", field="login[username]", required=True, markup="[type=email]"),
        Node("textbox", "Password", field="login[password]", required=True, markup="[type=password]"),
        Node("button", "Sign In", op="login", markup="#send2"),
        "The account sign-in was incorrect or your account is disabled temporarily.",
    ),
    FORUM: (
        "Log in",
        Node("textbox", "Username", field="_username", required=True),
        Node("textbox", "Password", field="_password", required=True, markup="[type=password]"),
        Node("button", "Log in", op="login"),
        "Invalid credentials.",
    ),
    GITLAB: (
        "Sign in · GitLab",
        Node("textbox", "Username or email", field="user[login]", markup="[data-testid=username-field]"),
        Node(
            "textbox",
            "Password",
            field="user[password]",
            markup="[type=password][data-testid=password-field]",
        ),
        Node("button", "Sign in", op="login", markup="[data-testid=sign-in-button]"),
        "Invalid login or password.",
    ),
}


def login_page(world: World, site: str, message: str = "") -> Page:
    title, user, password, button, _ = LOGIN_FORMS[site]
    notice = [text(message, 1)] if message else []
    body = (Node("heading", title), user, password, button)
    return Page(title, (*SITE_HEADERS[site](world), *notice, *body))


def credentials_match(site: str, form: dict[str, str]) -> bool:
    _, user, password, _, _ = LOGIN_FORMS[site]
    account = ACCOUNTS[SITE_NAMES[site]]
    account, secret = account["username"], account["password"]
    given_user, given_secret = form.get(user.field or "", ""), form.get(password.field or "", "")
    # compare_digest wants ASCII str or bytes; form input is any text.
    return hmac.compare_digest(given_user.encode(), account.encode()) & hmac.compare_digest(
        given_secret.encode(), secret.encode()
    )


# ------------------------------------------------------------------------------ responses
class Response:
    """What a handler sends: a status, headers and an HTML body (empty for a redirect)."""

    def __init__(self, status: int, body: str = "", headers: tuple[tuple[str, str], ...] = ()):
        self.status, self.body, self.headers = status, body, list(headers)


def message_page(title: str, message: str) -> Page:
    return Page(title, (Node("heading", title), text(message, 1)))


class _SiteHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: SiteServer, site: str):
        self.owner, self.site = owner, site
        super().__init__((HOST, 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _SiteHTTPServer
    timeout = 30  # a client that stops sending frees its thread
    server_version = "AgentGymSites/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._send(self._answer(lambda owner: owner.get(self.server.site, self.path, self._cookies())))

    def do_POST(self) -> None:  # noqa: N802
        length = self.headers.get("Content-Length", "0")
        if not length.isascii() or not length.isdigit():
            return self._send(SiteServer.error(HTTPStatus.BAD_REQUEST))
        if int(length) > MAX_FORM_BYTES:
            return self._send(SiteServer.error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE))
        body = self.rfile.read(int(length)).decode("utf-8", "replace")
        self._send(self._answer(lambda owner: owner.post(self.server.site, self.path, body)))

    def _answer(self, work) -> Response:
        """The response ``work`` makes; a bug in a page is a 500 (and logged), never a dropped connection."""
        try:
            return work(self.server.owner)
        except Exception:  # noqa: BLE001
            logger.exception(
                "the %s site failed on %s %s", SITE_NAMES[self.server.site], self.command, self.path
            )
            return SiteServer.error(HTTPStatus.INTERNAL_SERVER_ERROR)

    def _cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie", ""))
        except CookieError:  # a malformed header: as if there were no cookies
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    def _send(self, response: Response) -> None:
        data = response.body.encode()
        self.send_response(response.status)
        for name, value in (*response.headers, *SECURITY_HEADERS):
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        pass  # an env steps thousands of pages; the access log would drown the run's output


# ------------------------------------------------------------------------------ the server
class SiteServer:
    """The shop, the forum and GitLab of one :class:`World`, each on its own loopback port."""

    def __init__(self, world: World | None = None):
        self._world = world
        self._lock = threading.RLock()  # one request at a time touches the world
        self._servers: dict[str, _SiteHTTPServer] = {}
        self._threads: list[threading.Thread] = []
        self._sessions: set[str] = set()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SiteServer:
        with self._lock:
            if self._servers:
                return self
            for site, name in SITE_NAMES.items():
                server = _SiteHTTPServer(self, site)
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.1},
                    name=f"sites-{name}",
                    daemon=True,
                )
                thread.start()
                self._servers[site], self._threads = server, [*self._threads, thread]
        return self

    def close(self) -> None:
        with self._lock:
            servers, threads = list(self._servers.values()), self._threads
            self._servers, self._threads = {}, []
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ what it serves
    @property
    def world(self) -> World | None:
        return self._world

    def set_world(self, world: World | None) -> None:
        with self._lock:
            self._world = world

    @property
    def origins(self) -> dict[str, str]:
        """Canonical site origin -> live origin (``http://127.0.0.1:<port>``)."""
        if not self._servers:
            raise RuntimeError("the SiteServer is not running: call start() first")
        return {site: f"http://{HOST}:{server.server_address[1]}" for site, server in self._servers.items()}

    def live_url(self, url: str) -> str:
        for site, live in self.origins.items():
            if url == site or url.startswith(site + "/") or url.startswith(site + "?"):
                return live + url[len(site) :]
        return url

    def canonical_url(self, url: str) -> str:
        for site, live in self.origins.items():
            if url == live or url.startswith(live + "/") or url.startswith(live + "?"):
                return site + url[len(live) :]
        return url

    def href_for(self, site: str, url: str) -> str:
        """How a page of ``site`` links to ``url``: root-relative on the same site, the live
        origin on another of ours, as written elsewhere."""
        target = site_of(url)
        if target == site:
            return site_path(url)
        if target is not None and self._servers:
            return self.origins[target] + site_path(url)
        return url

    # ------------------------------------------------------------------ requests
    def get(self, site: str, target: str, cookies: dict[str, str]) -> Response:
        url = canonical_target(site, target)
        if url is None:
            return self.error(HTTPStatus.BAD_REQUEST)
        flash_cookie = f"flash_{SITE_NAMES[site]}"
        flash = unquote(cookies.get(flash_cookie, ""))
        with self._lock:
            if self._world is None:
                return self.error(HTTPStatus.SERVICE_UNAVAILABLE)
            status, page = HTTPStatus.OK, None
            if urlsplit(url).path == LOGIN_PATHS[site]:
                page = login_page(self._world, site, flash)
            else:
                try:
                    page = render_page(self._world, url, flash)
                except NotFound:
                    status, page = HTTPStatus.NOT_FOUND, not_found_page()
            body = page_html(page, url, lambda href: self.href_for(site, href))
        headers = (("Set-Cookie", f"{flash_cookie}=; Path=/; Max-Age=0"),) if flash else ()
        return Response(status, body, headers)

    def post(self, site: str, target: str, body: str) -> Response:
        url = canonical_target(site, target)
        if url is None:
            return self.error(HTTPStatus.BAD_REQUEST)
        sent = {
            name: values[0]
            for name, values in parse_qs(body, keep_blank_values=True, max_num_fields=64).items()
        }
        with self._lock:
            if self._world is None:
                return self.error(HTTPStatus.SERVICE_UNAVAILABLE)
            is_login = urlsplit(url).path == LOGIN_PATHS[site]
            try:
                page = login_page(self._world, site) if is_login else render_page(self._world, url)
            except NotFound:
                return Response(HTTPStatus.NOT_FOUND, page_html(not_found_page(), url))
            op = sent.get("op", "")
            if op not in {node.op for node in page.nodes if node.op}:
                return self.redirect(site, url, STALE_FORM)
            form = {n.field: sent[n.field] for n in page.nodes if n.field is not None and n.field in sent}
            if is_login:
                return self.login(site, form)
            to, message = perform(self._world, op, form)
        return self.redirect(site, to or url, message)

    def login(self, site: str, form: dict[str, str]) -> Response:
        if not credentials_match(site, form):
            return self.redirect(site, site + LOGIN_PATHS[site], LOGIN_FORMS[site][-1])
        token = secrets.token_urlsafe(24)
        self._sessions.add(token)
        cookie = f"session_{SITE_NAMES[site]}={token}; Path=/; HttpOnly; SameSite=Lax"
        response = self.redirect(site, site + "/", "")
        response.headers.append(("Set-Cookie", cookie))
        return response

    def redirect(self, site: str, url: str, message: str) -> Response:
        """303 to ``url`` (a canonical URL), with ``message`` flashed on the page it leads to."""
        headers = [("Location", self.href_for(site, url))]
        if message:
            headers.append(("Set-Cookie", f"flash_{SITE_NAMES[site]}={quote(message)}; Path=/; SameSite=Lax"))
        return Response(HTTPStatus.SEE_OTHER, "", tuple(headers))

    def has_session(self, token: str) -> bool:
        return token in self._sessions

    @staticmethod
    def error(status: HTTPStatus) -> Response:
        title = f"{status.value} {status.phrase}"
        return Response(status, page_html(message_page(title, status.description), "/"))


def canonical_target(site: str, target: str) -> str | None:
    """The canonical URL a request target names on ``site``, or None for a target that is not
    a path urllib can read (absolute-form, ``*``, a '[' that opens no host, ...)."""
    if not target.startswith("/") or target.startswith("//"):
        return None
    url = site + target
    return None if url_problem(url) else url
