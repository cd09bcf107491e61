"""``agentgym view``: the run's pages over plain HTTP, and in headless Chromium as a person uses them.

Run folders are written by the project's own writers (AgentEval's ``evaluate`` + ``save_eval``,
the rollout, the expert data), played by a scripted maze walker, so no model is trained here.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import tracemalloc
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest
from helpers import installed_or_skip

from agentgym_envs.formats import format_react
from agentgym_rl import cli
from agentgym_rl.viewer import PAGE_SIZE, Viewer, make_server
from agentgym_rl.viewer.listing import FACTS_BLOCK
from agentgym_rl.viewer.records import RecordFile
from agentgym_rl.viewer.steps import read_episode

MAZE = "AgentGym/Maze-v0"
SCRIPT_ACTION = "<script>window.__pwned = 1; alert(1)</script>"


# ------------------------------------------------------------------------------ run folders
class MazeWalker:
    """A scripted policy: the first of ``order`` that the last observation does not call a wall."""

    WORDS = {"up": "above", "right": "right", "down": "below", "left": "left"}

    def __init__(self, order=("up", "right", "down", "left")):
        self.order = order

    def generate(self, prompts, **kwargs):
        return [self.reply(messages[-1]["content"]) for messages in prompts]

    def reply(self, observation: str) -> str:
        walls = re.search(r"There are walls ([^.]*)\.", observation)
        blocked = walls.group(1) if walls else ""
        for direction in self.order:
            if self.WORDS[direction] not in blocked:
                return format_react(f"Nothing blocks {direction}.", f"move {direction}")
        return format_react("Walled in.", "move up")


def tiny_png() -> bytes:
    """A valid 2x2 PNG (the run's success.png stands in for matplotlib's)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_evolve_run(folder: Path, png: bool = True) -> Path:
    """A run folder in ``agentgym evolve``'s layout: AgentEval of two stages, one exploration,
    the expert data and metrics.jsonl, each written by the code that writes it in a real run."""
    from agentgym_envs.data import expert_trajectories, save_trajectories
    from agentgym_rl.evaluate import evaluate, results_table, save_eval
    from agentgym_rl.rollout import make_jobs, rollout
    from agentgym_rl.rollout_config import RolloutConfig
    from agentgym_rl.run_dir import RunDir

    config = RolloutConfig(concurrency=8, max_new_tokens=16)
    run = RunDir(folder)
    walkers = {"bc-base": MazeWalker(), "iter1": MazeWalker(("left", "down", "right", "up"))}
    table = {}
    for stage, walker in walkers.items():
        results, records = evaluate(walker, ["maze"], limit=8, config=config, progress=False)
        save_eval(results, records, folder / "eval" / f"{stage}.json", label=stage)
        run.record("eval", stage, **{env: result.as_dict() for env, result in results.items()})
        table[stage] = results
    (folder / "summary.md").write_text(results_table(table) + "\n")  # how agentevol's summary begins
    explored = rollout(MazeWalker(), make_jobs([MAZE], {MAZE: list(range(25, 31))}), config, progress=False)
    save_trajectories(explored, folder / "trajectories" / "explore_iter1.jsonl")
    rate = sum(r["success"] for r in explored) / len(explored)
    run.record("explore", "iter1", success_rate_per_env={MAZE: rate})
    expert, _ = expert_trajectories(MAZE, "agenttraj", limit=4, progress=False)
    save_trajectories(expert, folder / "data" / "agenttraj.json")
    if png:
        (folder / "success.png").write_bytes(tiny_png())
    return folder


@pytest.fixture(scope="module")
def evolve_run(tmp_path_factory) -> Path:
    return write_evolve_run(tmp_path_factory.mktemp("runs") / "evolve-maze")


def episode(item_id: str, actions: list[str], success: bool, sample: int = 0, **extra) -> dict:
    """An episode record as the rollout writes it (observations made up)."""
    turns = [
        {"from": "human", "loss": None, "value": "You walk a maze."},
        {"from": "gpt", "loss": False, "value": "Ok."},
        {"from": "human", "loss": None, "value": f"start of {item_id}"},
    ]
    for number, action in enumerate(actions, start=1):
        reward = 1.0 if success and number == len(actions) else 0.0
        turns.append(
            {"from": "gpt", "loss": True, "value": format_react("thinking", action), "reward": reward}
        )
        turns.append({"from": "human", "loss": None, "value": f"after step {number}"})
    return {"item_id": item_id, "conversations": turns, "reward": float(success), "success": success,
            "sample": sample, **extra}  # fmt: skip


def write_jsonl(path: Path, records: list, raw_lines: dict[int, str] | None = None) -> Path:
    """Records one a line; ``raw_lines`` puts text as it is at those line positions."""
    lines = [json.dumps(record) for record in records]
    for position, text in sorted((raw_lines or {}).items()):
        lines.insert(position, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def get(viewer: Viewer, target: str) -> tuple[int, str]:
    response = viewer.handle(target)
    return response.status, response.body.decode("utf-8")


def item_ids(page: str) -> list[str]:
    """The item ids a list page links to, in order."""
    return re.findall(r'<a href="/episode\?[^"]*">([a-z_]+\d+)</a>', page)


# ------------------------------------------------------------------------------ large files
def test_a_page_of_a_100k_episode_file_reads_only_its_own_records(tmp_path):
    path = tmp_path / "eval" / "big.episodes.jsonl"
    path.parent.mkdir()
    # One line per outcome, its item id swapped in: json.dumps 100k times would be most of the test.
    lines = {
        won: json.dumps(episode("lmrlgym_maze_NUMBER", ["move up"], won)) + "\n" for won in (True, False)
    }
    with path.open("w", encoding="utf-8") as file:
        for number in range(100_000):
            file.write(lines[number % 3 == 0].replace("NUMBER", str(number)))
    size = path.stat().st_size
    viewer = Viewer(tmp_path)
    source = viewer.source("eval/big.episodes.jsonl")

    tracemalloc.start()
    try:
        status, page = get(viewer, "/episodes?page=2000")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 200
    assert len(source.file.starts) == 100_000  # the index holds every record's byte offset ...
    assert peak < size / 4  # ... while the file itself was never held in memory
    assert source.file.records_read == PAGE_SIZE and source.file.facts_read == 0
    assert item_ids(page) == [f"lmrlgym_maze_{n}" for n in range(99_950, 100_000)]
    assert "episodes 99,951–100,000 of 100,000" in page
    assert source.file.record(12_345)["item_id"] == "lmrlgym_maze_12345"

    # A filter reads facts only as far as the page needs, never the whole file.
    status, page = get(viewer, "/episodes?success=yes&page=2")
    assert status == 200 and source.file.facts_read <= 2 * FACTS_BLOCK
    assert item_ids(page)[0] == f"lmrlgym_maze_{3 * PAGE_SIZE}"
    assert "searched so far" in page

    status, page = get(viewer, "/episode?src=eval/big.episodes.jsonl&i=99999")
    assert status == 200 and "lmrlgym_maze_99999" in page


def test_a_growing_file_is_indexed_further_and_a_cut_last_line_is_explained(tmp_path):
    path = write_jsonl(
        tmp_path / "episodes.jsonl", [episode(f"lmrlgym_maze_{n}", ["move up"], True) for n in range(3)]
    )
    records = RecordFile(path)
    assert len(records) == 3
    line = json.dumps(episode("lmrlgym_maze_3", ["move up"], False))
    with path.open("a", encoding="utf-8") as file:
        file.write(line[:40])  # a run writing its next episode
    assert len(records) == 4
    assert "may still be being written" in records.record(3).reason
    with path.open("a", encoding="utf-8") as file:
        file.write(line[40:] + "\n")
    assert len(records) == 4 and records.record(3)["item_id"] == "lmrlgym_maze_3"
    # Written anew (as save_trajectories does, atomically), longer: indexed from the start.
    rewritten = [episode(f"lmrlgym_wordle_{n}", ["crane"], False) for n in range(5)]
    write_jsonl(path.with_name("new.jsonl"), rewritten).replace(path)
    assert len(records) == 5 and records.record(0)["item_id"] == "lmrlgym_wordle_0"


def test_a_json_list_is_indexed_by_its_records_whatever_their_text_holds(tmp_path):
    tricky = episode("lmrlgym_maze_1", ['move "up" ]}{ \\ [[{'], True)
    path = tmp_path / "agenttraj.json"
    path.write_text(json.dumps([episode("lmrlgym_maze_0", ["move up"], True), tricky], indent=1))
    records = RecordFile(path)
    assert len(records) == 2 and records.record(1) == tricky
    assert records.facts(1).item_id == "lmrlgym_maze_1" and records.facts(1).success is True


# ------------------------------------------------------------------------------ pages over HTTP
@pytest.fixture
def two_stage_run(tmp_path) -> Path:
    """bc-base and iter1 over Maze tasks 0..59 and Wordle tasks 0..9 (iter1 solves more)."""
    for stage, solved in (("bc-base", lambda n: n % 4 == 0), ("iter1", lambda n: n % 2 == 0)):
        records = [
            episode(f"lmrlgym_maze_{n}", ["move up", f"{stage} move {n}"], solved(n)) for n in range(60)
        ]
        records += [episode(f"lmrlgym_wordle_{n}", ["crane"], False) for n in range(10)]
        write_jsonl(tmp_path / "eval" / f"{stage}.episodes.jsonl", records)
    return tmp_path


def test_filters_by_stage_env_task_and_success(two_stage_run):
    viewer = Viewer(two_stage_run)
    _, page = get(viewer, "/episodes")
    assert "episodes 1–50 of 140" in page
    _, page = get(viewer, "/episodes?src=eval/iter1.episodes.jsonl&env=AgentGym/Wordle-v0")
    assert item_ids(page) == [f"lmrlgym_wordle_{n}" for n in range(10)] and "of 10" in page
    _, page = get(viewer, "/episodes?src=eval/bc-base.episodes.jsonl&env=AgentGym/Maze-v0&success=yes")
    assert item_ids(page) == [f"lmrlgym_maze_{n}" for n in range(0, 60, 4)]
    _, page = get(viewer, "/episodes?env=AgentGym/Maze-v0&success=no&src=eval/iter1.episodes.jsonl")
    assert item_ids(page) == [f"lmrlgym_maze_{n}" for n in range(1, 60, 2)]
    _, page = get(viewer, "/episodes?task=lmrlgym_maze_7")  # both stages
    assert item_ids(page) == ["lmrlgym_maze_7", "lmrlgym_maze_7"]
    _, page = get(viewer, "/episodes?task=7")  # a task number in any env
    assert item_ids(page) == ["lmrlgym_maze_7", "lmrlgym_wordle_7", "lmrlgym_maze_7", "lmrlgym_wordle_7"]
    _, page = get(viewer, "/episodes?task=nothing_here")
    assert "No episode matches" in page


def test_pagination_shows_every_episode_once(two_stage_run):
    viewer = Viewer(two_stage_run)
    seen = []
    for number in (1, 2, 3):
        _, page = get(viewer, f"/episodes?page={number}")
        seen += item_ids(page)
        assert ("next →" in page) == (number < 3)
    assert len(seen) == 140 and seen[:60] == [f"lmrlgym_maze_{n}" for n in range(60)]
    filtered = []
    for number in (1, 2):  # a filtered scan continues where the last page stopped
        _, page = get(viewer, f"/episodes?success=no&page={number}")
        filtered += item_ids(page)
    assert len(filtered) == len(set(zip(filtered, range(95)))) == 95 and "of 95" in page  # 45 + 10 + 30 + 10


def test_two_stages_side_by_side_on_the_same_task(two_stage_run):
    viewer = Viewer(two_stage_run)
    status, page = get(viewer, "/compare?a=eval/bc-base.episodes.jsonl&ai=5&b=eval/iter1.episodes.jsonl")
    assert status == 200
    assert "lmrlgym_maze_5: side by side" in page
    assert "bc-base move 5" in page and "iter1 move 5" in page  # both episodes' actions, row by row
    assert page.index("bc-base move 5") < page.index("iter1 move 5")
    _, page = get(viewer, "/episode?src=eval/bc-base.episodes.jsonl&i=5")
    assert "/compare?a=eval%2Fbc-base.episodes.jsonl&amp;ai=5&amp;b=eval%2Fiter1.episodes.jsonl" in page
    status, page = get(viewer, "/compare?a=eval/bc-base.episodes.jsonl&ai=5&b=eval/nothing.jsonl")
    assert status == 404 and "no episode file" in page


def test_damaged_lines_are_explained_where_the_episode_would_be(tmp_path):
    records = [episode(f"lmrlgym_maze_{n}", ["move up"], True) for n in range(4)]
    write_jsonl(
        tmp_path / "eval" / "bc-base.episodes.jsonl",
        records,
        {1: '{"item_id": "lmrlgym_maze_9", "conv', 3: "[1, 2]"},
    )
    viewer = Viewer(tmp_path)
    status, page = get(viewer, "/episodes")
    assert status == 200
    assert "line 2 is damaged JSON" in page and "line 4 is JSON but not an episode" in page
    assert item_ids(page) == [f"lmrlgym_maze_{n}" for n in range(4)]  # the rest still shown
    status, page = get(viewer, "/episode?src=eval/bc-base.episodes.jsonl&i=1")
    assert status == 200 and "line 2 is damaged JSON" in page and "Traceback" not in page
    _, page = get(viewer, "/episodes?success=yes")
    assert item_ids(page) == [f"lmrlgym_maze_{n}" for n in range(4)]


def test_text_from_files_is_escaped(tmp_path):
    record = episode("lmrlgym_maze_0", [SCRIPT_ACTION], False, note="<b>bold</b>")
    record["conversations"][2]["value"] = '<img src=x onerror="alert(2)">'
    write_jsonl(tmp_path / "evil.jsonl", [record])
    viewer = Viewer(tmp_path / "evil.jsonl")
    for target in ("/episodes", "/episode?src=evil.jsonl&i=0"):
        status, page = get(viewer, target)
        assert status == 200
        assert "<script>window" not in page and "<img src=x" not in page and "<b>bold" not in page
    assert "&lt;script&gt;window.__pwned = 1; alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page


def test_the_overview_has_the_agenteval_table_curves_and_files(evolve_run, tmp_path):
    viewer = Viewer(evolve_run)
    status, page = get(viewer, "/")
    assert status == 200
    results = json.loads((evolve_run / "eval" / "bc-base.json").read_text())[MAZE]
    assert f"{100 * results['success_rate']:.1f}%" in page
    assert "<th>bc-base</th><th>iter1</th>" in page
    assert '<img alt="success.png" src="/file?path=success.png">' in page
    assert "<summary>summary (summary.md)</summary><pre>| env | bc-base | iter1 |" in page
    for label in ("bc-base", "iter1 (explore)", "agenttraj (expert data)"):
        assert f">{label}</a>" in page
    # Without the run's PNG the curve is drawn here, exploration's success beside AgentEval's.
    bare = write_evolve_run(tmp_path / "bare", png=False)
    _, page = get(Viewer(bare), "/")
    assert "<svg" in page and "success rate per stage" in page and f"{MAZE} explore" in page


def test_an_eval_out_folder_shows_its_results(evolve_run, tmp_path):
    for suffix in (".json", ".episodes.jsonl"):  # what `agentgym eval --out runs/api/results.json` writes
        shutil.copy(evolve_run / "eval" / f"bc-base{suffix}", tmp_path / f"results{suffix}")
    status, page = get(Viewer(tmp_path), "/")
    assert status == 200 and "<th>results</th>" in page
    assert '<a href="/episodes?src=results.episodes.jsonl&amp;env=AgentGym%2FMaze-v0">' in page


def test_routes_over_a_real_socket(evolve_run):
    (evolve_run.parent / "secret.png").write_bytes(tiny_png())
    server = make_server(Viewer(evolve_run))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(f"{base}/") as response:
            assert response.status == 200 and "nonce-" in response.headers["Content-Security-Policy"]
        with urllib.request.urlopen(f"{base}/file?path=success.png") as response:
            assert response.headers["Content-Type"] == "image/png" and response.read() == tiny_png()
        refused = (
            "/file?path=../secret.png",
            "/episode?src=../secret.png&i=0",
            "/episode?src=eval/bc-base.episodes.jsonl&i=999",
            "/nope",
        )
        rebound = urllib.request.Request(f"{base}/", headers={"Host": f"evil.example:{server.server_port}"})
        with pytest.raises(urllib.error.HTTPError) as error:  # DNS rebinding: another name for 127.0.0.1
            urllib.request.urlopen(rebound)
        assert error.value.code == 403
        for target in refused:
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(f"{base}{target}")
            assert error.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["view", "/no/such/run"], "no such file or folder: /no/such/run"),
        (["view", "{readme}"], "is not an episodes file"),
        (["view", "{empty}"], "holds no episode files"),
        (["view", "{empty}", "--colour"], "unrecognized arguments: --colour"),
        (["view"], "the following arguments are required: path"),
    ],
)
def test_bad_paths_and_flags_are_one_line_errors(argv, message, tmp_path, capsys):
    (tmp_path / "README.md").write_text("# not episodes\n")
    (tmp_path / "empty").mkdir()
    argv = [arg.format(readme=tmp_path / "README.md", empty=tmp_path / "empty") for arg in argv]
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and error.startswith("agentgym view: error:")


def test_the_command_serves_the_run_and_stops_on_ctrl_c(evolve_run, tmp_path):
    shutil.copytree(evolve_run, tmp_path / "runs" / "evolve-maze")
    command = [sys.executable, "-m", "agentgym_rl", "view", "runs/evolve-maze", "--no_browser"]
    child = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell ignores SIGINT in the jobs it starts in the background, and the ignoring is
        # inherited: Python then never turns Ctrl-C into KeyboardInterrupt. A terminal user's
        # Ctrl-C is the default disposition, so the child gets that whatever ran the tests.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        first = child.stdout.readline()
        address = re.search(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops\)", first)
        assert address, first
        with urllib.request.urlopen(address.group(1)) as response:
            assert "runs/evolve-maze" in response.read().decode()
    finally:
        child.send_signal(signal.SIGINT)
        rest, errors = child.communicate(timeout=60)
    assert child.returncode == 0 and rest == "agentgym view: stopped\n" and errors == ""


# ------------------------------------------------------------------------------ pictures
def test_maze_episodes_are_replayed_in_the_env(evolve_run):
    viewer = Viewer(evolve_run)
    _, page = get(viewer, "/episode?src=eval/bc-base.episodes.jsonl&i=0")
    record = viewer.source("eval/bc-base.episodes.jsonl").file.record(0)
    steps = len(read_episode(record).steps)
    assert page.count('<div class="frame"><svg') == steps + 1  # the start, then after every step
    assert "replayed in AgentGym/Maze-v0 from task 0" in page
    # A record that is not what the env does: the replay stops there and says so.
    record["conversations"][4]["value"] = "You moved nowhere."
    path = write_jsonl(evolve_run.parent / "tampered" / "episodes.jsonl", [record])
    _, page = get(Viewer(path), "/episode?src=episodes.jsonl&i=0")
    assert "replay stopped at step 1" in page and page.count('<div class="frame"><svg') == 2


def test_babyai_episodes_are_replayed_as_grids(tmp_path):
    from agentgym_envs.data import expert_trajectories

    installed_or_skip("AgentGym/BabyAI-v0")
    records, _ = expert_trajectories("AgentGym/BabyAI-v0", "agenttraj", limit=2, progress=False)
    path = write_jsonl(tmp_path / "babyai.jsonl", records)
    _, page = get(Viewer(path), "/episode?src=babyai.jsonl&i=1")
    steps = len(read_episode(records[1]).steps)
    assert "replayed in AgentGym/BabyAI-v0" in page
    assert page.count('<div class="frame"><svg') == steps + 1 and "<polygon" in page  # the agent


def test_textcraft_shows_the_goals_recipe_tree(tmp_path):
    from agentgym_envs.data import expert_trajectories

    installed_or_skip("AgentGym/TextCraft-v0")
    records, _ = expert_trajectories("AgentGym/TextCraft-v0", "agenttraj", limit=1, progress=False)
    path = write_jsonl(tmp_path / "textcraft.jsonl", records)
    _, page = get(Viewer(path), "/episode?src=textcraft.jsonl&i=0")
    goal = re.search(r"Goal: craft (.+?)\.", records[0]["conversations"][2]["value"]).group(1)
    assert f'<ul class="tree"><li><span class="item">{goal}</span>' in page
    assert f'<span class="got">✓ {len(read_episode(records[0]).steps)}</span>' in page  # the goal, last step


def test_screenshots_the_record_carries_are_shown(tmp_path):
    png = base64.b64encode(tiny_png()).decode()
    record = episode("webarena_3", ["click [12]", "stop [done]"], True)
    record["conversations"][2]["screenshot"] = png
    record["conversations"][4]["screenshot"] = "javascript:alert(1)"  # not an image: not shown
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "last.png").write_bytes(tiny_png())
    record["conversations"][6]["screenshot"] = "shots/last.png"  # a file beside the episodes
    path = write_jsonl(tmp_path / "webarena.jsonl", [record])
    _, page = get(Viewer(path), "/episode?src=webarena.jsonl&i=0")
    assert f'src="data:image/png;base64,{png}"' in page
    assert 'src="/file?path=shots%2Flast.png"' in page
    assert "javascript:" not in page and "(1 could not be shown)" in page


# ------------------------------------------------------------------------------ in Chromium
def chromium_or_skip() -> str:
    """Debian's Chromium, which Playwright drives with executable_path (no download)."""
    pytest.importorskip(
        "playwright", reason="the viewer's browser test needs the module 'playwright': pip install playwright"
    )
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if found is None:
        pytest.skip(
            "the viewer's browser test needs the program 'chromium' on PATH (apt-get install chromium)"
        )
    return found


@pytest.fixture
def browser_page():
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            yield browser.new_page(viewport={"width": 1300, "height": 900})
        finally:
            browser.close()


@pytest.fixture
def served():
    servers = []

    def serve(path: Path) -> str:
        server = make_server(Viewer(path))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_person_opens_the_run_clicks_into_an_episode_and_compares_stages(
    evolve_run, browser_page, served, tmp_path
):
    page = browser_page
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(served(evolve_run) + "/")
    assert page.locator("h2", has_text="AgentEval").is_visible()
    assert page.locator("img[alt='success.png']").evaluate("img => img.naturalWidth") == 2

    page.locator("table a", has_text="%").first.click()  # bc-base's cell: its episodes
    page.locator("a", has_text="lmrlgym_maze_0").first.click()
    assert page.locator("h1").inner_text() == "lmrlgym_maze_0"
    record = json.loads((evolve_run / "eval" / "bc-base.episodes.jsonl").read_text().splitlines()[0])
    first_reply = read_episode(record).steps[0]
    card = page.locator(".step[data-step='1']")
    assert first_reply.action in card.inner_text() and first_reply.observation in card.inner_text()
    assert page.locator(".frame-label").inner_text().startswith("step 0 of")
    card.click()  # the maze picture follows the step clicked
    assert page.locator(".frame-label").inner_text().startswith("step 1 of")
    assert page.locator(".frame:not([hidden]) svg title").text_content() == "maze at step 1"
    page.screenshot(path=str(tmp_path / "episode.png"), full_page=True)
    assert (tmp_path / "episode.png").stat().st_size > 10_000

    page.locator("a", has_text="iter1").last.click()  # the AgentEval stage link: side by side
    assert page.locator("h1").inner_text() == "lmrlgym_maze_0: side by side"
    assert page.locator(".pair .picture").count() == 2
    page.screenshot(path=str(tmp_path / "compare.png"))
    assert problems == []


def test_model_text_shows_as_text_in_the_browser(browser_page, served, tmp_path):
    write_jsonl(tmp_path / "evil.jsonl", [episode("lmrlgym_maze_0", [SCRIPT_ACTION], False)])
    page = browser_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(served(tmp_path / "evil.jsonl") + "/episodes")
    page.locator("a", has_text="lmrlgym_maze_0").click()
    assert SCRIPT_ACTION in page.locator(".step[data-step='1']").inner_text()
    assert page.evaluate("window.__pwned") is None and dialogs == []
