"""WebArena's browser backend: the generated sites as real pages in headless Chromium.

The tree is checked line for line against WebArena's own processor (libwebarena's
``TextObervationProcessor``, run on the same page of the same browser); the expert must solve what
it solves on the text backend; bad actions are explained; the env works from any thread and inside
a running asyncio loop; and no Chromium process outlives its envs or a dead browser.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import gymnasium as gym
import pytest
from helpers import finish_with_expert, solve

import agentgym_envs  # noqa: F401 - registers the ids
from agentgym_envs.core import fit_to_space
from agentgym_envs.envs.webarena import chromium, tasks
from agentgym_envs.envs.webarena.chromium import ENGINE, ChromiumNotFound, find_chromium, parse_tree
from agentgym_envs.envs.webarena.pages import CART_URL
from agentgym_envs.envs.webarena.sites import FORUM, GITLAB, SHOP

try:
    find_chromium()
except ChromiumNotFound as missing:
    pytest.skip(str(missing), allow_module_level=True)  # names `apt-get install chromium`
pytest.importorskip("playwright", reason="needs the module 'playwright': pip install playwright")

ENV_ID = "AgentGym/WebArena-v0"
VIEWPORT = {"width": 1280, "height": 720}
ID = re.compile(r"^(\t*)\[(-?\d+)\]", re.MULTILINE)
# Task ids of the instruction set beyond the AgentEval ids: the three templates AgentEval does not
# reach (task i plays template i % 23), and a spread of the rest.
TRAIN_SAMPLE = (20, 21, 22, 103, 257, 431, 619, 831)


@pytest.fixture(scope="module")
def env():
    env = gym.make(ENV_ID, backend="browser")
    yield env
    env.close()


@pytest.fixture(scope="module")
def text_env():
    env = gym.make(ENV_ID)
    yield env
    env.close()


def node_id(obs: str, role: str, name: str) -> int:
    for line in parse_tree(obs.split("\n\n", 1)[1]):
        if line.role == role and line.name.startswith(name):
            return line.node_id
    raise AssertionError(f"no {role} {name!r} in:\n{obs}")


def url_of(obs: str) -> str:
    return next(line[5:] for line in obs.splitlines() if line.startswith("URL: "))


def step(env, action: str) -> str:
    obs, reward, terminated, truncated, info = env.step(action)
    assert not terminated and not truncated and reward == 0.0
    return obs


# ------------------------------------------------------------------------------ WebArena's processor
class SyncPage:
    """The env's Playwright page as the sync API shows it, each call run on the engine's thread,
    so that libwebarena's processor reads the very page the env observes."""

    def __init__(self, page):
        self.page = page

    def __eq__(self, other):
        return isinstance(other, SyncPage) and other.page is self.page

    @property
    def context(self):
        return SyncContext(self.page.context)

    def title(self):
        return ENGINE.run(self.page.title)

    def evaluate(self, expression):
        return ENGINE.run(lambda: self.page.evaluate(expression))

    def wait_for_load_state(self, *args, **kwargs):
        return ENGINE.run(lambda: self.page.wait_for_load_state(*args, **kwargs))


class SyncContext:
    def __init__(self, context):
        self.pages = [SyncPage(page) for page in context.pages]


class SyncClient:
    def __init__(self, client):
        self.client = client

    def send(self, method, params=None):
        return ENGINE.run(lambda: self.client.send(method, params or {}))


def webarena_text(browser) -> str:
    """What libwebarena's TextObervationProcessor prints for the env's current tab, as the env
    writes it: live origins as canonical ones, and each of Chromium's node ids as the env's id
    for that node (a one-to-one renaming: see chromium.page_ids)."""
    processors = pytest.importorskip(
        "webarena.browser_env.processors",
        reason="needs the module 'webarena' (pip install --no-deps libwebarena)",
    )
    tab = browser._tabs[browser.active]
    processor = processors.TextObervationProcessor("accessibility_tree", True, VIEWPORT)
    text = processor.process(SyncPage(tab.page), SyncClient(tab.client))
    ids = browser.view.ids
    assert len(set(ids.values())) == len(ids)  # one to one
    renamed = ID.sub(lambda match: f"{match.group(1)}[{ids[match.group(2)]}]", text)
    return browser.canonical(renamed)


def shown_text(browser) -> str:
    return f"{browser.tabs_line()}\n\n{browser.tree()}"


def pages_of(world) -> list[str]:
    """Several pages of each site, of every kind the tasks visit."""
    product = next(iter(world.shop.products.values()))
    post = next(iter(world.forum.posts.values()))
    project = next(iter(world.gitlab.projects.values()))
    from agentgym_envs.envs.webarena import pages

    return [
        f"{SHOP}/",
        pages.category_url(product.category),
        pages.product_url(product.name),
        pages.search_url("a"),
        pages.ORDERS_URL,
        pages.order_url(world.shop.orders[0].number),
        f"{FORUM}/",
        pages.forum_url(post.forum),
        pages.post_url(post),
        pages.submit_url(post.forum),
        f"{GITLAB}/",
        pages.project_url(project.path),
        pages.issues_url(project.path),
        f"{pages.issues_url(project.path)}/{project.issues[0].number}",
        pages.new_issue_url(project.path),
        f"{SHOP}/no-such-page",
    ]


def test_tree_is_webarenas_line_for_line_on_every_site(env):
    env.reset(options={"task_id": 0})
    browser = env.unwrapped.browser
    for url in pages_of(env.unwrapped.world):
        obs = step(env, f"goto [{url}]")
        assert url_of(obs) == url
        assert shown_text(browser) == webarena_text(browser), url
        assert fit_to_space(f"{shown_text(browser)}\nURL: {url}", len(obs)) in obs  # as the env shows text


def test_tree_is_webarenas_after_scrolling_and_typing(env):
    env.reset(options={"task_id": 0})
    browser = env.unwrapped.browser
    step(env, f"goto [{SHOP}/catalogsearch/result/?q=]")  # every product: a long page
    top = browser.tree()
    step(env, "scroll [down]")
    assert browser.tree() != top  # the viewport moved: other nodes are shown
    assert shown_text(browser) == webarena_text(browser)
    obs = step(env, "scroll [up]")
    assert browser.tree() == top
    obs = step(env, f"type [{node_id(obs, 'searchbox', 'Search')}] [green tea] [0]")
    assert shown_text(browser) == webarena_text(browser)
    assert "StaticText 'green tea'" in obs


def test_observation_is_webarenas_prompt_with_canonical_urls(env):
    obs, info = env.reset(options={"task_id": 1})
    lines = obs.splitlines()
    assert lines[:2] == ["OBSERVATION:", "Tab 0 (current): Forums"]
    assert (
        lines[3].startswith("[")
        and " RootWebArea 'Forums' focused: True url: http://localhost:9999/" in lines[3]
    )
    assert url_of(obs) == f"{FORUM}/" and "127.0.0.1" not in obs
    assert lines[-1] == "PREVIOUS ACTION: None" and "screenshot" not in info


# ------------------------------------------------------------------------------ the expert and evaluators
@pytest.mark.parametrize("split", ["test", "train sample"])
def test_expert_solves_what_it_solves_on_the_text_backend(env, text_env, split):
    ids = env.unwrapped.task_ids("test") if split == "test" else TRAIN_SAMPLE
    for task_id in ids:
        info, rounds = solve(env, task_id)
        text_info, text_rounds = solve(text_env, task_id)
        assert info["success"] and text_info["success"], task_id
        assert rounds == text_rounds, task_id


def test_same_task_same_episode(env):
    def episode() -> list[str]:
        obs, _ = env.reset(options={"task_id": 3})  # a purchase: forms, redirects, a new order
        seen = [obs]
        while True:
            obs, _, terminated, _, info = env.step(env.unwrapped.expert()[1])
            seen.append(obs)
            if terminated:
                assert info["success"]
                return seen

    assert episode() == episode()


def test_an_edit_task_fails_when_the_page_shows_no_change(env):
    env.reset(options={"task_id": 9})  # add a product to the cart
    assert env.unwrapped.config["plan"]["finish"] == "add_to_cart"
    assert "program_html" in env.unwrapped.config["eval"]
    _, reward, terminated, _, info = env.step("stop []")
    assert terminated and reward == 0.0 and not info["success"]


def test_program_html_reads_the_last_page_and_other_pages(env):
    env.reset(options={"task_id": 0})
    browser = env.unwrapped.browser
    assert browser.read("last", "document.title") == "One Stop Market"
    assert "<title>Shopping Cart</title>" in browser.read(CART_URL, "")
    assert browser.read("last", "document.querySelector('#nothing').textContent") == ""  # it throws
    assert browser.read("https://example.com/", "") == ""  # not one of the sites


# ------------------------------------------------------------------------------ actions
def test_actions_run_in_the_page(env):
    obs, _ = env.reset(options={"task_id": 0})
    obs = step(env, f"type [{node_id(obs, 'searchbox', 'Search')}] [kettle]")  # Enter sends the search
    assert url_of(obs) == f"{SHOP}/catalogsearch/result/?q=kettle"
    obs = step(env, f"hover [{node_id(obs, 'link', 'My Orders')}]")
    obs = step(env, f"click [{node_id(obs, 'link', 'My Orders')}]")
    assert url_of(obs) == f"{SHOP}/sales/order/history/"
    assert url_of(step(env, "go_back")) == f"{SHOP}/catalogsearch/result/?q=kettle"
    assert url_of(step(env, "go_forward")) == f"{SHOP}/sales/order/history/"
    obs = step(env, "new_tab")
    assert "Tab 1 (current): " in obs and url_of(obs) == "about:blank"
    obs = step(env, f"goto [{GITLAB}/]")  # a canonical address leads to the live server
    assert "Tab 1 (current): Projects" in obs and url_of(obs) == f"{GITLAB}/"
    obs = step(env, "tab_focus [0]")
    assert "Tab 0 (current): My Orders | Tab 1: Projects" in obs
    obs = step(env, "close_tab")
    assert "Tab 0 (current): Projects" in obs and "Tab 1" not in obs
    step(env, f"goto [{SHOP}/catalogsearch/result/?q=]")
    before = env.unwrapped.browser.tree()
    step(env, "press [PageDown]")
    assert env.unwrapped.browser.tree() != before


@pytest.mark.parametrize(
    "action, says",
    [
        ("click [999999]", "there is no element with id [999999]"),
        ("type [999999] [x]", "there is no element with id [999999]"),
        ("goto [https://example.com/]", "is not on one of the sites"),
        ("goto [file:///etc/passwd]", "is not on one of the sites"),
        ("goto [javascript:alert(1)]", "is not on one of the sites"),
        ("goto [http://localh[ost:9999/]", "is not a valid URL"),
        ("press [NoSuchKey]", "is not a key combination"),
        ("scroll [left]", "scroll goes 'up' or 'down'"),
        ("tab_focus [7]", "there is no tab '7'"),
        ("close_tab", "this is the only tab"),
        ("go_back", "there is no previous page"),
        ("go_forward", "there is no next page"),
        ("click [abc]", "is not a well-formed click action"),
        ("fly away", "is not an action"),
    ],
)
def test_bad_actions_are_explained(env, action, says):
    env.reset(options={"task_id": 0})
    obs, reward, terminated, _, info = env.step(action)
    assert obs.startswith("Invalid action: ") and says in obs, obs
    assert reward == 0.0 and not terminated and "engine_lost" not in info
    assert url_of(obs) == f"{SHOP}/"


def test_typing_into_what_is_not_a_field_and_clicking_out_of_view_are_explained(env):
    obs, _ = env.reset(options={"task_id": 0})
    obs = step(env, f"goto [{SHOP}/catalogsearch/result/?q=]")
    link = node_id(obs, "link", "My Orders")
    obs, *_ = env.step(f"type [{link}] [hello]")
    assert f"Invalid action: [{link}] is a link, not a text field" in obs
    obs = step(env, "scroll [down]")
    obs, *_ = env.step(f"click [{link}]")
    assert f"Invalid action: element [{link}] is not in view: scroll to it first." in obs


def test_image_observation_is_the_viewport_png():
    env = gym.make(ENV_ID, backend="browser", observation_type="image")
    try:
        _, info = env.reset(options={"task_id": 0})
        png = info["screenshot"]
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert (width, height) == (1280, 720)
        _, _, _, _, info = env.step("scroll [down]")
        assert info["screenshot"][:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        env.close()


def test_settings_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="backend is one of text, browser"):
        gym.make(ENV_ID, backend="firefox")
    with pytest.raises(ValueError, match="need backend='browser'"):
        gym.make(ENV_ID, observation_type="image")
    with pytest.raises(ChromiumNotFound, match="apt-get install chromium"):
        gym.make(ENV_ID, backend="browser", chromium_path="/no/such/chromium")


# ------------------------------------------------------------------------------ threads
def test_reset_and_step_from_other_threads_and_inside_a_running_asyncio_loop(env):
    results = {}

    def reset_here():
        results["reset"] = env.reset(options={"task_id": 0})[0]

    thread = threading.Thread(target=reset_here)
    thread.start()
    thread.join()

    def step_here():
        results["step"] = env.step(f"goto [{FORUM}/]")[0]

    thread = threading.Thread(target=step_here)
    thread.start()
    thread.join()
    assert url_of(results["step"]) == f"{FORUM}/"

    async def inside_a_loop():
        obs, *_ = env.step(f"goto [{GITLAB}/]")
        return obs

    assert url_of(asyncio.run(inside_a_loop())) == f"{GITLAB}/"


# ------------------------------------------------------------------------------ lifecycle
CHILD = textwrap.dedent(
    """
    import json, sys
    import gymnasium as gym
    import agentgym_envs
    from agentgym_envs.envs.webarena.chromium import ENGINE, process_tree, wait_for_exit

    first = gym.make("AgentGym/WebArena-v0", backend="browser")
    first.reset(options={"task_id": 0})
    closed = process_tree(ENGINE.pid)
    first.close()
    left_after_close = wait_for_exit(closed)
    second = gym.make("AgentGym/WebArena-v0", backend="browser")
    second.reset(options={"task_id": 1})
    print(json.dumps({"closed": closed, "left_after_close": left_after_close,
                      "at_exit": process_tree(ENGINE.pid)}))
    sys.stdout.flush()
    # the process exits with `second` still open: atexit must close the browser
    """
)


def test_no_chromium_is_left_after_close_or_after_the_process_exits(tmp_path):
    import json

    tests = Path(__file__).resolve().parent
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tests.parent), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["closed"]) >= 2 and len(report["at_exit"]) >= 2  # the browser and its helpers
    assert report["left_after_close"] == []
    assert chromium.wait_for_exit(report["at_exit"]) == []


def test_a_killed_browser_loses_the_episode_and_the_next_reset_recovers(env):
    env.reset(options={"task_id": 3})
    killed = chromium.process_tree(ENGINE.pid)
    os.kill(ENGINE.pid, signal.SIGKILL)
    obs, reward, terminated, truncated, info = env.step(env.unwrapped.expert()[1])
    assert terminated and not truncated and reward == 0.0
    assert info["engine_lost"] and not info["success"] and "Call reset()" in obs
    assert chromium.wait_for_exit(killed) == []  # no orphaned renderer or zygote
    other = gym.make(ENV_ID, backend="browser")
    try:  # two envs start at once on no browser: they must launch one and share it
        starts = [threading.Thread(target=e.reset, kwargs={"options": {"task_id": 3}}) for e in (env, other)]
        for thread in starts:
            thread.start()
        for thread in starts:
            thread.join()
        assert ENGINE.pid not in killed and browsers_of_this_process() == [ENGINE.pid]
        for each in (env, other):
            info, _ = finish_with_expert(each)
            assert info["success"]
    finally:
        other.close()


def browsers_of_this_process() -> list[int]:
    marker = f"--agentgym-webarena={os.getpid()}.".encode()
    return [pid for pid in chromium._all_pids() if marker in chromium._cmdline(pid)]


def test_the_samples_reach_every_template():
    # TRAIN_SAMPLE reaches the templates the AgentEval ids do not.
    played = {i % len(tasks.TEMPLATES) for i in (*range(20), *TRAIN_SAMPLE)}
    assert played == set(range(len(tasks.TEMPLATES)))
