"""WebArena's auto-login: sign in to a task's sites as WebArena's ``browser_env/auto_login.py``
does, and keep the cookies as a Playwright storage state that the episode's browser context
starts from.

A WebArena config names its login by its ``storage_state`` file (``./.auth/gitlab.reddit_state.json``:
sign in to GitLab and the forum in one context). WebArena's run.py signs in again before every
task; here a state is kept in a cache folder, one file per site combination and set of site
addresses (``<folder>/<fingerprint of the addresses>/<sites>_state.json``, WebArena's file name),
and made again once it is older than ``max_age`` seconds, or at once with ``max_age=0`` (as
WebArena does). A login runs in a fresh context of the env's Chromium, through Playwright's async API (on the
thread of :class:`~chromium.ChromiumEngine`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agentgym_envs.data import atomic_write_text
from agentgym_envs.envs.webarena.webarena_configs import ACCOUNTS

LoginWork = Callable[[Any], Awaitable[None]]  # given a Playwright Browser, signs in and saves
DEFAULT_MAX_AGE = 600.0  # seconds: a reset of the user's sites ends sessions; sign in again soon


def default_auth_dir() -> Path:
    """``$AGENTGYM_CACHE/webarena-auth`` (default ``~/.cache/agentgym``), as every cache here."""
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / "webarena-auth"


class LoginFailed(RuntimeError):
    """A site's login form could not be filled or sent (the site down, or not WebArena's)."""


# ------------------------------------------------------------------------------ the login forms
async def _shopping(page, origin: str, username: str, password: str) -> None:
    await page.goto(f"{origin}/customer/account/login/")
    await page.get_by_label("Email", exact=True).fill(username)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign In").click()


async def _reddit(page, origin: str, username: str, password: str) -> None:
    await page.goto(f"{origin}/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def _shopping_admin(page, origin: str, username: str, password: str) -> None:
    await page.goto(origin)
    await page.get_by_placeholder("user name").fill(username)
    await page.get_by_placeholder("password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def _gitlab(page, origin: str, username: str, password: str) -> None:
    await page.goto(f"{origin}/users/sign_in")
    await page.get_by_test_id("username-field").fill(username)
    await page.get_by_test_id("password-field").fill(password)
    await page.get_by_test_id("sign-in-button").click()


LOGIN_FORMS = {"shopping": _shopping, "reddit": _reddit, "shopping_admin": _shopping_admin, "gitlab": _gitlab}


async def log_in(page, site: str, origin: str) -> None:
    """Sign in to ``site`` at ``origin`` with WebArena's account, through its login form. A page
    that still asks for a password afterwards means the sign-in failed (every one of WebArena's
    sites leaves its login form once signed in)."""
    account = ACCOUNTS[site]
    failure = f"could not sign in to {site} at {origin} as {account['username']}"
    try:
        await LOGIN_FORMS[site](page, origin, account["username"], account["password"])
        await page.wait_for_load_state()
        still_asks = await page.locator("input[type=password]").count() > 0
    except Exception as error:  # Playwright's timeouts and navigation errors, with the site named
        raise LoginFailed(f"{failure}: {error}") from error
    if still_asks:
        raise LoginFailed(f"{failure}: {page.url} still asks for a password (not WebArena's account?)")


# ------------------------------------------------------------------------------ the cached states
class LoginStates:
    """Storage states per site combination for one set of site addresses, in ``folder``."""

    _locks: dict[Path, threading.Lock] = {}
    _locks_guard = threading.Lock()

    def __init__(
        self, sites: Mapping[str, str], folder: str | Path | None = None, max_age: float = DEFAULT_MAX_AGE
    ):
        self.sites = dict(sites)
        self.folder = Path(folder) if folder is not None else default_auth_dir()
        self.max_age = max_age

    def path(self, combination: Sequence[str]) -> Path:
        """``<folder>/<fingerprint>/<a.b>_state.json``: a state is only good for the addresses it
        was made at, so the folder's name is a hash of those."""
        addresses = json.dumps([[site, self.sites[site]] for site in sorted(combination)])
        fingerprint = hashlib.sha256(addresses.encode()).hexdigest()[:16]
        return self.folder / fingerprint / f"{'.'.join(combination)}_state.json"

    def fresh(self, path: Path) -> bool:
        return path.is_file() and self.max_age > 0 and time.time() - path.stat().st_mtime < self.max_age

    def state(self, combination: Sequence[str], run_with_browser: Callable[[LoginWork], Any]) -> Path:
        """The storage state file for ``combination``, made now unless a fresh one is cached.
        ``run_with_browser(work)`` runs the coroutine ``work(browser)`` with a Playwright (async)
        Browser where that browser lives (:meth:`ChromiumBrowser.run_with_browser`)."""
        missing = [site for site in combination if site not in self.sites]
        if missing:
            raise ValueError(f"signing in needs the addresses of {missing}: give them in sites=")
        path = self.path(combination)
        with self._lock_for(path):  # envs of one process share a file: one login, not one each
            if not self.fresh(path):
                run_with_browser(lambda browser: self.make(combination, browser, path))
        return path

    async def make(self, combination: Sequence[str], browser: Any, path: Path) -> None:
        """Sign in to every site of the combination in one new context and save its state; the
        file is written whole or not at all (another process may read it meanwhile)."""
        context = await browser.new_context()
        try:
            page = await context.new_page()
            for site in combination:
                await log_in(page, site, self.sites[site])
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(await context.storage_state()))
        finally:
            await context.close()

    @classmethod
    def _lock_for(cls, path: Path) -> threading.Lock:
        with cls._locks_guard:
            return cls._locks.setdefault(path, threading.Lock())
