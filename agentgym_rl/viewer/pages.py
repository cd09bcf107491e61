"""The viewer's HTML, rendered on the server. Everything read from a file (model text above all)
goes through :func:`e` (HTML escaping) before it reaches a page; the only markup not escaped is
the viewer's own (SVG it draws, its CSS and JavaScript)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from agentgym_rl.viewer.pictures import Picture
from agentgym_rl.viewer.records import Damaged
from agentgym_rl.viewer.steps import Episode, Step

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:8px 16px}header a{color:#fff;margin-right:14px}
main{padding:12px 16px;max-width:1500px}
h1{font-size:20px;margin:6px 0 10px}h2{font-size:16px;margin:18px 0 8px}
table{border-collapse:collapse;background:#fff;margin-bottom:8px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{white-space:pre-wrap;word-break:break-word;margin:4px 0;font:12.5px/1.4 ui-monospace,monospace}
code{font:12.5px ui-monospace,monospace;background:#eef1f4;padding:1px 4px;border-radius:3px}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}
.damaged{background:#fff1f0;color:#a40e26;border:1px solid #ffb3b8;padding:6px 10px;margin:4px 0}
.note{color:#57606a;font-size:12.5px}
.layout{display:flex;gap:16px;align-items:flex-start}.steps{flex:1;min-width:0}
.picture{position:sticky;top:8px;background:#fff;border:1px solid #d0d7de;padding:8px;max-width:46%}
.picture .frame[hidden]{display:none}.picture img.shot{max-width:100%}.picture svg{max-width:100%;height:auto}
.pair{position:sticky;top:8px;display:flex;flex-wrap:wrap;gap:8px;max-width:42%}
.pair .picture{position:static;max-width:none;flex:1 1 220px}.picture h3{font-size:13px;margin:0}
.step{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:6px 10px;margin:6px 0;cursor:pointer}
.step.current{border-color:#0969da;box-shadow:0 0 0 2px #0969da33}
.step h3{font-size:13px;margin:0 0 4px}.label{font-weight:600;color:#57606a;font-size:12px}
.obs{background:#f6f8fa;border-left:3px solid #8c959f;padding:2px 8px}
.problem{color:#9a6700}
form.filters{background:#fff;border:1px solid #d0d7de;padding:8px;margin-bottom:8px}
form.filters label{margin-right:12px}
.pager a,.pager span{margin-right:10px}
table.compare{width:100%;table-layout:fixed}table.compare td{width:50%;background:#fff}
table.compare tr[data-step]{cursor:pointer}table.compare tr.current td{background:#eef6ff}
ul.tree{padding-left:18px}ul.tree ul{padding-left:20px;border-left:1px dotted #8c959f}
.tree .item{font-weight:600}.tree .how{color:#57606a;font-size:12px}.tree .got{color:#1a7f37}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts img{max-width:560px;background:#fff}
"""

# Clicking a step shows its picture in every picture panel of the same episode (two in a
# side-by-side view); the arrow keys and the panel's buttons walk the steps.
SCRIPT = """
function showStep(box, k){
  box.querySelectorAll('.picture').forEach(function(panel){
    var frames = panel.querySelectorAll('.frame'); if(!frames.length) return;
    var shown = Math.max(0, Math.min(k, frames.length - 1));
    frames.forEach(function(f, i){ f.hidden = (i !== shown); });
    var text = 'step ' + shown + (shown < k ? ' (last replayed)' : '') + ' of ' + (frames.length - 1);
    var label = panel.querySelector('.frame-label'); if(label) label.textContent = text;
  });
  box.querySelectorAll('[data-step]').forEach(function(el){
    el.classList.toggle('current', Number(el.dataset.step) === k);
  });
  box.dataset.current = k;
}
document.querySelectorAll('[data-episode]').forEach(function(box){
  box.addEventListener('click', function(ev){
    var move = ev.target.closest('[data-move]');
    var current = Number(box.dataset.current || 0);
    if(move){ showStep(box, Math.max(0, current + Number(move.dataset.move))); return; }
    var step = ev.target.closest('[data-step]');
    if(step && !ev.target.closest('a,summary,button')) showStep(box, Number(step.dataset.step));
  });
  showStep(box, 0);
});
document.addEventListener('keydown', function(ev){
  var box = document.querySelector('[data-episode]');
  if(!box || ev.target.closest('input,select,textarea')) return;
  var k = Number(box.dataset.current || 0);
  if(ev.key === 'ArrowRight' || ev.key === 'j') showStep(box, k + 1);
  if(ev.key === 'ArrowLeft' || ev.key === 'k') showStep(box, Math.max(0, k - 1));
});
"""


def e(text: Any) -> str:
    """HTML-escaped text (quotes too: it may go in an attribute)."""
    return html.escape(str(text), quote=True)


def url(route: str, /, **params: Any) -> str:
    """``route`` with its query (empty values left out)."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{route}?{query}" if query else route


def page(title: str, body: str, run_name: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>{e(title)} · agentgym view</title><link rel="icon" href="data:,">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head>'
        f'<body><header><a href="/">{e(run_name)}</a><a href="/episodes">episodes</a></header>'
        f"<main>{body}</main><script>{SCRIPT}</script></body></html>"
    )


def message_page(title: str, text: str, run_name: str) -> str:
    return page(title, f'<h1>{e(title)}</h1><p class="damaged">{e(text)}</p>', run_name)


# ------------------------------------------------------------------------------ formatting
def percent(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else "–"


def number(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–"
    return f"{value:.{digits}f}"


def outcome(success: bool | None) -> str:
    if success is None:
        return '<span class="muted">?</span>'
    return '<span class="ok">✓ success</span>' if success else '<span class="bad">✗ fail</span>'


def table(header: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table whose cells are already HTML."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------ an episode
def episode_facts(episode: Episode, source_label: str) -> str:
    extra = "".join(
        f" · {e(key)} <code>{e(short(str(value), 200))}</code>"
        for key, value in episode.extra.items()
        if key != "screenshots"
    )
    return (
        f"<p>{outcome(episode.success)} · score <b>{number(episode.reward)}</b> · "
        f"{len(episode.steps)} steps · "
        f"{e(episode.env_id or 'unknown env')} task {e(episode.task_id)} · {e(source_label)}{extra}</p>"
    )


def step_card(step: Step) -> str:
    parts = [f'<div class="step" data-step="{step.number}"><h3>Step {step.number}']
    if step.reward is not None:
        parts.append(f' <span class="muted">reward {number(step.reward)} · score {number(step.score)}</span>')
    parts.append("</h3>")
    if step.thought:
        parts.append(f'<div class="label">Thought</div><pre>{e(step.thought)}</pre>')
    if step.action is not None:
        parts.append(f'<div class="label">Action</div><pre><code>{e(step.action)}</code></pre>')
    else:
        parts.append(f'<div class="label">Action</div><pre class="problem">none: {e(step.problem)}</pre>')
    if step.observation is not None:
        parts.append(f'<div class="label">Observation</div><pre class="obs">{e(step.observation)}</pre>')
    else:
        parts.append('<p class="note">(no observation recorded after this action)</p>')
    parts.append(
        f'<details><summary class="note">raw reply</summary><pre>{e(step.reply)}</pre></details></div>'
    )
    return "".join(parts)


def start_card(episode: Episode) -> str:
    return (
        f'<div class="step" data-step="0"><h3>Start</h3>'
        f'<details><summary class="label">Instruction</summary><pre>{e(episode.instruction)}</pre></details>'
        f'<div class="label">Observation</div><pre class="obs">{e(episode.first_observation)}</pre></div>'
    )


def picture_panel(picture: Picture | None, title: str = "") -> str:
    if picture is None:
        return ""
    frames = "".join(f'<div class="frame">{frame}</div>' for frame in picture.frames)
    buttons = (
        '<p><button data-move="-1">◀</button> <span class="frame-label"></span> '
        '<button data-move="1">▶</button></p>'
        if len(picture.frames) > 1
        else ""
    )
    heading = f"<h3>{e(title)}</h3>" if title else ""
    return f'<div class="picture">{heading}{buttons}{frames}<p class="note">{e(picture.note)}</p></div>'


def episode_body(episode: Episode, picture: Picture | None) -> str:
    cards = start_card(episode) + "".join(step_card(step) for step in episode.steps)
    return f'<div class="layout" data-episode><div class="steps">{cards}</div>{picture_panel(picture)}</div>'


def damaged_block(problem: Damaged) -> str:
    return f'<div class="damaged">{e(problem.reason)}</div>'


# ------------------------------------------------------------------------------ side by side
def compare_cell(step: Step | None) -> str:
    if step is None:
        return '<td class="muted">—</td>'
    action = (
        f"<code>{e(step.action)}</code>"
        if step.action is not None
        else f'<span class="problem">no action: {e(step.problem)}</span>'
    )
    reward = (
        f' <span class="muted">reward {number(step.reward)} · score {number(step.score)}</span>'
        if step.reward is not None
        else ""
    )
    thought = f"<pre>{e(step.thought)}</pre>" if step.thought else ""
    observation = f'<pre class="obs">{e(step.observation)}</pre>' if step.observation is not None else ""
    return f"<td>{thought}{action}{reward}{observation}</td>"


def compare_rows(a: Episode, b: Episode) -> str:
    rows = [
        '<tr data-step="0">'
        f'<td><pre class="obs">{e(a.first_observation)}</pre></td>'
        f'<td><pre class="obs">{e(b.first_observation)}</pre></td></tr>'
    ]
    for k in range(max(len(a.steps), len(b.steps))):
        left = a.steps[k] if k < len(a.steps) else None
        right = b.steps[k] if k < len(b.steps) else None
        rows.append(f'<tr data-step="{k + 1}"><th colspan="2">Step {k + 1}</th></tr>')
        rows.append(f'<tr data-step="{k + 1}">{compare_cell(left)}{compare_cell(right)}</tr>')
    return "".join(rows)
