"""``agentgym view``'s web server: stdlib ``http.server`` on the loopback, pages rendered here.

Routes: ``/`` (the run: AgentEval tables, curves, episode files), ``/episodes`` (a filtered,
paginated list), ``/episode`` (one episode step by step, with its picture), ``/compare`` (two
stages side by side on one task) and ``/file`` (the run's own images, nothing outside it).
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import webbrowser
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agentgym_envs import short_name
from agentgym_rl.viewer import pages
from agentgym_rl.viewer.charts import line_chart
from agentgym_rl.viewer.listing import Filter, Lister
from agentgym_rl.viewer.pages import e, url
from agentgym_rl.viewer.pictures import Picture, picture_of
from agentgym_rl.viewer.records import Damaged, looks_like_episode_list
from agentgym_rl.viewer.runs import (
    ResultsTable,
    Source,
    classify,
    find_sources,
    picture_files,
    read_curves,
    read_results,
    results_tables,
)
from agentgym_rl.viewer.steps import Episode, read_episode

PAGE_SIZE = 50
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
NONCE_MARK = "<script>"
NOTE_LIMIT = 200_000  # bytes: a summary.md or config.json larger than this is not one the runs write
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class ViewerError(ValueError):
    """A path the viewer cannot show (said in one line by the command)."""


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"


class Viewer:
    """The pages of one run folder or episodes file."""

    def __init__(self, target: str | Path):
        target = Path(target)
        if not target.exists():
            raise ViewerError(f"no such file or folder: {target}")
        self.name = str(target)
        self.single = target if target.is_file() else None
        self.root = (target.parent if self.single else target).resolve()
        if self.single is not None:
            suffix = self.single.suffix
            if suffix not in (".jsonl", ".json") or (
                suffix == ".json" and not looks_like_episode_list(self.single)
            ):
                raise ViewerError(f"{target} is not an episodes file (a .jsonl, or a .json list of records)")
        self._known: dict[str, Source] = {}
        self._lock = threading.Lock()
        self.lister = Lister()
        self._pictures: OrderedDict[tuple, Picture | None] = OrderedDict()
        if not self.sources() and not self.tables():
            raise ViewerError(
                f"{target} holds no episode files (*.jsonl) and no AgentEval results (eval/*.json)"
            )

    # ------------------------------------------------------------------ the run's files
    def sources(self) -> list[Source]:
        """The run's episode files, found again on every request (a running job adds files); the
        index of a file already seen is kept."""
        if self.single is not None:
            found = [self._single_source()]
        else:
            found = find_sources(self.root)
        with self._lock:
            return [self._known.setdefault(source.key, source) for source in found]

    def _single_source(self) -> Source:
        facts = classify(Path(self.single.name)) or ("", self.single.stem, "episodes", False)
        return Source(self.single.name, self.single, *facts)

    def source(self, key: str) -> Source | None:
        return next((s for s in self.sources() if s.key == key), None)

    def tables(self) -> list[ResultsTable]:
        if self.single is None:
            return results_tables(self.root, sorted({s.group for s in self.sources()} | {""}))
        stage = self.single.name.removesuffix(".jsonl").removesuffix(".episodes")
        results = read_results(self.single.with_name(f"{stage}.json"))
        return [ResultsTable("", self.root, {stage: results})] if results else []

    # ------------------------------------------------------------------ routing
    def handle(self, target: str) -> Response:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        routes = {
            "/": self.overview,
            "/episodes": self.episodes,
            "/episode": self.episode,
            "/compare": self.compare,
            "/file": self.file,
        }
        route = routes.get(parts.path)
        if route is None:
            return self.message(404, "Not found", f"the viewer has no page {parts.path}")
        return route(query)

    def html(self, title: str, body: str, status: int = 200) -> Response:
        return Response(status, pages.page(title, body, self.name).encode("utf-8"))

    def message(self, status: int, title: str, text: str) -> Response:
        return Response(status, pages.message_page(title, text, self.name).encode("utf-8"))

    # ------------------------------------------------------------------ /
    def overview(self, query: dict[str, str]) -> Response:
        sources = self.sources()
        body = [f"<h1>{e(self.name)}</h1>"]
        for table in self.tables():
            body.append(self.results_section(table, sources))
        rows = [
            [
                f'<a href="{e(url("/episodes", src=s.key))}">{e(s.label)}</a>',
                e(s.kind),
                f"<code>{e(s.key)}</code>",
                f'<td class="num">{len(s.file):,}</td>',
                f'<td class="num">{s.path.stat().st_size / 1e6:,.1f} MB</td>',
            ]
            for s in sources
        ]
        body.append("<h2>Episode files</h2>")
        body.append(
            pages.table(["stage", "kind", "file", "episodes", "size"], rows) if rows else "<p>none</p>"
        )
        return self.html("run", "".join(body))

    def results_section(self, table: ResultsTable, sources: list[Source]) -> str:
        """The group's AgentEval table (a cell links to its episodes) and its curves."""
        episodes = {
            s.stage: s for s in sources if s.group == table.group and s.kind == "AgentEval" and not s.running
        }
        rows = []
        for env_id in table.env_ids():
            row = [f"<b>{e(env_id)}</b>"]
            for stage, results in table.stages.items():
                entry = results.get(env_id)
                if entry is None:
                    row.append("–")
                    continue
                cell = (
                    f"{pages.percent(entry.get('success_rate'))} "
                    f'<span class="muted">[{pages.percent(entry.get("success_low"))}, '
                    f"{pages.percent(entry.get('success_high'))}]</span><br>"
                    f'<span class="note">score {pages.number(entry.get("mean_score"))} · '
                    f"{e(entry.get('episodes'))} ep.</span>"
                )
                if stage in episodes:
                    cell = f'<a href="{e(url("/episodes", src=episodes[stage].key, env=env_id))}">{cell}</a>'
                row.append(cell)
            rows.append(row)
        title = f"AgentEval: {table.group}" if table.group else "AgentEval"
        parts = [
            f"<h2>{e(title)}</h2>",
            '<p class="note">success rate [95% Wilson interval], mean score, episodes; '
            "a cell lists its episodes</p>",
            pages.table(["env"] + [e(stage) for stage in table.stages], rows),
            self.subtask_tables(table),
            '<div class="charts">',
            self.curves(table),
            "</div>",
            _run_notes(table.folder),
        ]
        return "".join(parts)

    def subtask_tables(self, table: ResultsTable) -> str:
        rows = []
        for env_id in table.env_ids():
            names: dict[str, None] = {}
            for results in table.stages.values():
                names.update(dict.fromkeys((results.get(env_id) or {}).get("subtasks") or {}))
            for name in names:
                row = [e(env_id), e(name)]
                for results in table.stages.values():
                    entry = ((results.get(env_id) or {}).get("subtasks") or {}).get(name)
                    row.append(
                        f"{pages.percent(entry.get('success_rate'))} ({e(entry.get('episodes'))})"
                        if isinstance(entry, dict)
                        else "–"
                    )
                rows.append(row)
        if not rows:
            return ""
        inner = pages.table(["env", "subtask"] + [e(stage) for stage in table.stages], rows)
        return f"<details><summary>per subtask</summary>{inner}</details>"

    def curves(self, table: ResultsTable) -> str:
        """The run's own plot when it wrote one, else AgentEval success per stage drawn here; plus
        metrics.jsonl's per-step training curves."""
        charts = []
        images = picture_files(table.folder)
        for image in images:
            relative = image.resolve().relative_to(self.root).as_posix()
            charts.append(f'<img alt="{e(image.name)}" src="{e(url("/file", path=relative))}">')
        metrics = read_curves(table.folder)
        if not images:
            stages = list(table.stages)
            series = {}
            for env_id in table.env_ids():
                points = []
                for position, results in enumerate(table.stages.values()):
                    entry = results.get(env_id)
                    if entry is not None:
                        points.append(
                            (
                                position,
                                entry["success_rate"],
                                entry.get("success_low"),
                                entry.get("success_high"),
                            )
                        )
                series[f"{env_id} AgentEval"] = points
            for env_id, values in metrics.explore.items():
                points = [
                    (stages.index(stage), rate, None, None) for stage, rate in values if stage in stages
                ]
                if points:
                    series[f"{env_id} explore"] = points
            dashed = frozenset(name for name in series if name.endswith(" explore"))
            charts.append(line_chart("success rate per stage", series, stages, (0, 1), "{:.0%}", dashed))
        for key, values in metrics.steps.items():
            charts.append(
                line_chart(f"{key} per training step", {key: [(x, y, None, None) for x, y in values]})
            )
        return "".join(charts)

    # ------------------------------------------------------------------ /episodes
    def episodes(self, query: dict[str, str]) -> Response:
        sources = self.sources()
        wanted = Filter(
            query.get("src", ""),
            query.get("env", ""),
            query.get("task", "").strip(),
            query.get("success", ""),
        )
        if wanted.source and self.source(wanted.source) is None:
            return self.message(
                404, "No such episode file", f"this run has no episode file {wanted.source!r}"
            )
        number = _int(query.get("page"), 1) - 1
        found = self.lister.page(sources, wanted, max(0, number), PAGE_SIZE)
        body = [f"<h1>Episodes</h1>{self.filter_form(sources, wanted)}", _counts(found)]
        rows = []
        by_source: dict[str, list[int]] = {}
        for source, index in found.rows:
            by_source.setdefault(source.key, []).append(index)
        decoded = {
            (key, index): record
            for key, indices in by_source.items()
            for index, record in zip(indices, self.source(key).file.records(indices))
        }
        for position, (source, index) in enumerate(found.rows, start=found.first + 1):
            rows.append(self.episode_row(position, source, index, decoded[(source.key, index)]))
        header = ["#", "stage", "task", "env", "outcome", "score", "steps", "last action"]
        body.append(pages.table(header, rows) if rows else "<p>No episode matches.</p>")
        body.append(self.pager(wanted, number, found))
        return self.html("episodes", "".join(body))

    def filter_form(self, sources: list[Source], wanted: Filter) -> str:
        from agentgym_envs import env_ids

        stage_options = [("", "every stage")] + [(s.key, s.label) for s in sources]
        env_options = [("", "every env")] + [(env_id, env_id) for env_id in env_ids()]
        success_options = [("", "both"), ("yes", "success"), ("no", "failure")]
        return (
            '<form class="filters" method="get" action="/episodes">'
            f"<label>stage {_select('src', stage_options, wanted.source)}</label>"
            f"<label>env {_select('env', env_options, wanted.env)}</label>"
            '<label>task <input name="task" size="22" placeholder="item id or number" '
            f'value="{e(wanted.task)}"></label>'
            f"<label>outcome {_select('success', success_options, wanted.success)}</label>"
            '<button type="submit">Filter</button></form>'
        )

    def episode_row(self, position: int, source: Source, index: int, record: dict | Damaged) -> list[str]:
        link = url("/episode", src=source.key, i=index)
        stage = f'<a href="{e(url("/episodes", src=source.key))}">{e(source.label)}</a>'
        if isinstance(record, Damaged):
            return [
                f'<td class="num">{position}</td>',
                stage,
                f'<td colspan="6">{pages.damaged_block(record)}</td>',
            ]
        episode = read_episode(record)
        last = episode.steps[-1] if episode.steps else None
        action = (
            e(pages.short(last.action))
            if last and last.action
            else e(pages.short(last.problem))
            if last
            else ""
        )
        return [
            f'<td class="num">{position}</td>',
            stage,
            f'<a href="{e(link)}">{e(episode.item_id)}</a>',
            e(short_name(episode.env_id) if episode.env_id else "?"),
            pages.outcome(episode.success),
            f'<td class="num">{pages.number(episode.reward)}</td>',
            f'<td class="num">{len(episode.steps)}</td>',
            f"<code>{action}</code>" if action else "",
        ]

    def pager(self, wanted: Filter, number: int, found) -> str:
        params = {"src": wanted.source, "env": wanted.env, "task": wanted.task, "success": wanted.success}
        links = []
        if number > 0:
            links.append(f'<a href="{e(url("/episodes", **params, page=number))}">← previous</a>')
        last_page = None if found.total is None else max(1, -(-found.total // PAGE_SIZE))
        links.append(f"<span>page {number + 1}" + (f" of {last_page:,}" if last_page else "") + "</span>")
        more = (
            found.first + len(found.rows) < found.total
            if found.total is not None
            else len(found.rows) == PAGE_SIZE
        )
        if more:
            links.append(f'<a href="{e(url("/episodes", **params, page=number + 2))}">next →</a>')
            if last_page:
                links.append(f'<a href="{e(url("/episodes", **params, page=last_page))}">last</a>')
        return f'<p class="pager">{"".join(links)}</p>'

    # ------------------------------------------------------------------ /episode
    def loaded(self, key: str, index_text: str | None) -> tuple[Source, int, dict | Damaged] | Response:
        source = self.source(key)
        if source is None:
            return self.message(404, "No such episode file", f"this run has no episode file {key!r}")
        index = _int(index_text, -1)
        if not 0 <= index < len(source.file):
            return self.message(404, "No such episode", f"{source.key} has no record {index_text!r}")
        return source, index, source.file.record(index)

    def episode(self, query: dict[str, str]) -> Response:
        found = self.loaded(query.get("src", ""), query.get("i"))
        if isinstance(found, Response):
            return found
        source, index, record = found
        nav = self.record_nav(source, index)
        if isinstance(record, Damaged):
            return self.html(
                "damaged record",
                f"<h1>{e(source.label)}: record {index + 1}</h1>{nav}{pages.damaged_block(record)}",
            )
        episode = read_episode(record)
        picture = self.picture(source, index, episode)
        body = [
            f"<h1>{e(episode.item_id)}</h1>",
            nav,
            pages.episode_facts(episode, source.label),
            self.compare_links(source, index, episode),
            pages.episode_body(episode, picture),
        ]
        return self.html(episode.item_id, "".join(body))

    def record_nav(self, source: Source, index: int) -> str:
        listing = url("/episodes", src=source.key, page=index // PAGE_SIZE + 1)
        links = [f'<a href="{e(listing)}">↑ {e(source.label)}</a>']
        if index > 0:
            links.append(f'<a href="{e(url("/episode", src=source.key, i=index - 1))}">← previous</a>')
        links.append(f"<span>{e(source.file.where(index))} of {len(source.file):,}</span>")
        if index + 1 < len(source.file):
            links.append(f'<a href="{e(url("/episode", src=source.key, i=index + 1))}">next →</a>')
        return f'<p class="pager">{"".join(links)}</p>'

    def compare_links(self, source: Source, index: int, episode: Episode) -> str:
        """Links to this task in the run's other AgentEval stages, and a form for any file."""
        others = [s for s in self.sources() if s.key != source.key]
        evals = [s for s in others if s.kind == "AgentEval" and s.group == source.group]
        links = " ".join(
            f'<a href="{e(url("/compare", a=source.key, ai=index, b=s.key))}">{e(s.stage)}</a>' for s in evals
        )
        options = [(s.key, s.label) for s in others]
        if not options:
            return ""
        form = (
            '<form method="get" action="/compare" style="display:inline">'
            f'<input type="hidden" name="a" value="{e(source.key)}">'
            f'<input type="hidden" name="ai" value="{index}">'
            f"{_select('b', options, evals[0].key if evals else '')} "
            '<button type="submit">side by side</button></form>'
        )
        quick = f" · AgentEval stages: {links}" if links else ""
        return f"<p>Compare this task with another stage: {form}{quick}</p>"

    def picture(self, source: Source, index: int, episode: Episode) -> Picture | None:
        stat = source.path.stat()
        key = (source.key, index, stat.st_size, stat.st_mtime_ns)
        if key not in self._pictures:
            self._pictures[key] = picture_of(episode, lambda value: self.file_url(source, value))
            while len(self._pictures) > 64:
                self._pictures.popitem(last=False)
        return self._pictures[key]

    def file_url(self, source: Source, value: str) -> str | None:
        """The /file URL of an image path a record names (relative to its episodes file)."""
        path = (source.path.parent / value).resolve()
        if path.suffix.lower() not in IMAGE_TYPES or not path.is_file() or not path.is_relative_to(self.root):
            return None
        return url("/file", path=path.relative_to(self.root).as_posix())

    # ------------------------------------------------------------------ /compare
    def compare(self, query: dict[str, str]) -> Response:
        found = self.loaded(query.get("a", ""), query.get("ai"))
        if isinstance(found, Response):
            return found
        source_a, index_a, record_a = found
        if isinstance(record_a, Damaged):
            return self.message(422, "Damaged record", record_a.reason)
        source_b = self.source(query.get("b", ""))
        if source_b is None:
            return self.message(
                404, "No such episode file", f"this run has no episode file {query.get('b', '')!r}"
            )
        a = read_episode(record_a)
        index_b = self.same_task(source_b, a, record_a.get("sample"), query.get("bi"))
        if index_b is None:
            text = f"{source_b.label} has no episode of {a.item_id}"
            return self.html("side by side", f'<h1>{e(a.item_id)}</h1><p class="damaged">{e(text)}</p>', 404)
        record_b = source_b.file.record(index_b)
        if isinstance(record_b, Damaged):
            return self.html("side by side", f"<h1>{e(a.item_id)}</h1>{pages.damaged_block(record_b)}")
        b = read_episode(record_b)
        heads, pictures = [], []
        for source, index, episode in ((source_a, index_a, a), (source_b, index_b, b)):
            link = f'<a href="{e(url("/episode", src=source.key, i=index))}">{e(source.label)}</a>'
            heads.append(f"<td><h2>{link}</h2>{pages.episode_facts(episode, source.label)}</td>")
            pictures.append(pages.picture_panel(self.picture(source, index, episode), source.label))
        # The pictures sit beside the rows and stay in view while the rows scroll.
        body = (
            f"<h1>{e(a.item_id)}: side by side</h1>"
            f'<div class="layout" data-episode><div class="steps"><table class="compare">'
            f"<tr>{''.join(heads)}</tr>{pages.compare_rows(a, b)}</table></div>"
            f'<div class="pair">{"".join(pictures)}</div></div>'
        )
        return self.html(f"{a.item_id} side by side", body)

    def same_task(self, source: Source, episode: Episode, sample: Any, index_text: str | None) -> int | None:
        """The record of ``source`` for the episode's task (the same sample where there are several)."""
        if index_text is not None:
            index = _int(index_text, -1)
            return index if 0 <= index < len(source.file) else None
        found = self.lister.page([source], Filter(source.key, task=episode.item_id), 0, PAGE_SIZE)
        if not found.rows:
            return None
        for _, index in found.rows:
            record = source.file.record(index)
            if not isinstance(record, Damaged) and record.get("sample") == sample:
                return index
        return found.rows[0][1]

    # ------------------------------------------------------------------ /file
    def file(self, query: dict[str, str]) -> Response:
        path = (self.root / query.get("path", "")).resolve()
        kind = IMAGE_TYPES.get(path.suffix.lower())
        if kind is None or not path.is_relative_to(self.root) or not path.is_file():
            return self.message(404, "Not found", "the viewer serves only the run's own images")
        return Response(200, path.read_bytes(), kind)


# ------------------------------------------------------------------------------ helpers
def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _run_notes(folder: Path) -> str:
    """The run's summary and settings as it wrote them (folded): the summary has rows the
    table above lacks (time, speed, how much of the instruction set each stage solved)."""
    notes = []
    for name, what in (("summary.md", "summary"), ("config.json", "settings")):
        path = folder / name
        if path.is_file() and path.stat().st_size < NOTE_LIMIT:
            text = path.read_text(encoding="utf-8", errors="replace")
            notes.append(f"<details><summary>{what} ({name})</summary><pre>{e(text)}</pre></details>")
    return "".join(notes)


def _select(name: str, options: list[tuple[str, str]], chosen: str) -> str:
    items = "".join(
        f'<option value="{e(value)}"{" selected" if value == chosen else ""}>{e(label)}</option>'
        for value, label in options
    )
    return f'<select name="{e(name)}">{items}</select>'


def _counts(found) -> str:
    if not found.rows:
        return ""
    shown = f"{found.first + 1:,}–{found.first + len(found.rows):,}"
    if found.total is not None:
        return f'<p class="note">episodes {shown} of {found.total:,}</p>'
    return (
        f'<p class="note">matching episodes {shown}; {found.scanned:,} of {found.records:,} episodes '
        "searched so far (the next page searches on)</p>"
    )


# ------------------------------------------------------------------------------ serving
class _Handler(BaseHTTPRequestHandler):
    viewer: Viewer  # set on the class made by make_server

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        try:
            if _host_name(self.headers.get("Host", "127.0.0.1")) not in LOOPBACK_NAMES:
                # A web page that rebinds its own domain to 127.0.0.1 must not read the run.
                response = self.viewer.message(403, "Refused", "the viewer answers only to 127.0.0.1")
            else:
                response = self.viewer.handle(self.path)
        except Exception as err:  # a page that fails says why in one line, the server goes on
            print(f"agentgym view: {self.path}: {type(err).__name__}: {err}", file=sys.stderr)
            response = self.viewer.message(500, "Could not show this page", f"{type(err).__name__}: {err}")
        body = response.body
        headers = {
            "Content-Type": response.content_type,
            "Content-Length": None,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        if response.content_type.startswith("text/html"):
            # Only the viewer's own script runs: model text is escaped, and this stops anything missed.
            nonce = secrets.token_urlsafe(12)
            body = body.replace(NONCE_MARK.encode(), f'<script nonce="{nonce}">'.encode())
            headers["Content-Security-Policy"] = (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
                "img-src 'self' data:; form-action 'self'"
            )
        headers["Content-Length"] = str(len(body))
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass  # a page a second is not worth a log line


def _host_name(header: str) -> str:
    """The name in a Host header, without its port (``[::1]:8000`` -> ``[::1]``)."""
    name, colon, port = header.rpartition(":")
    return name if colon and port.isdigit() else header


def make_server(viewer: Viewer, port: int = 0) -> ThreadingHTTPServer:
    """A server for ``viewer`` on 127.0.0.1 (port 0: a free one; ``server.server_port`` says which)."""
    handler = type("ViewerHandler", (_Handler,), {"viewer": viewer})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def browser_available() -> bool:
    """A graphical browser to open: not on a headless machine, where webbrowser would start a
    text browser in this terminal."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def serve(target: str | Path, port: int = 0, open_browser: bool = True) -> int:
    """Serve the viewer until Ctrl-C."""
    viewer = Viewer(target)
    try:
        server = make_server(viewer, port)
    except OSError as err:
        raise ViewerError(f"cannot listen on 127.0.0.1:{port}: {err.strerror or err}") from None
    address = f"http://127.0.0.1:{server.server_port}/"
    print(f"agentgym view: {viewer.name} at {address} (Ctrl-C stops)", flush=True)
    if open_browser and browser_available():
        webbrowser.open(address)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("agentgym view: stopped", flush=True)
    finally:
        server.server_close()
    return 0


__all__ = ["PAGE_SIZE", "Viewer", "ViewerError", "make_server", "serve"]
