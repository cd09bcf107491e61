"""A page of the generated sites as HTML: :class:`~pages.Page` nodes in, a small semantic document
out, whose accessibility tree in Chromium has the page's roles and names in the page's order.

How nodes become HTML (``webserver.py``'s docstring lists the class names locators read):

- one node, one row: every node is a block 16 px high, so WebArena's 720 px viewport shows 45 of
  them (the text backend's ``VIEWPORT_NODES``) and the same nodes on every run: no script, no
  image, no font or style from outside, nothing random or timed.
- ``link`` -> ``<a href>``, ``StaticText`` -> ``<p>``, ``heading`` -> ``<h1>`` (the page's first)
  or ``<h2>``, ``button`` -> ``<button name="op" value="<op>">``, ``textbox`` -> ``<input>`` (or
  the ``<textarea>`` its markup asks for) named by ``aria-label``, ``searchbox`` ->
  ``<input type="search">``. Any other role (``menubar``) is a ``<div role=...>`` named by
  ``aria-label`` that holds the deeper nodes after it; its name is shown as a row hidden from the
  tree, so the row count still matches the node count.
- Forms are empty, hidden ``<form>`` elements that controls join with ``form="..."``: a ``<form>``
  around them would add a ``form ''`` node to the tree. A button's form holds the fields since the
  previous button (the text backend sends every typed field; no page has two forms' fields
  interleaved). A POST form starts with a disabled hidden submit button, so Enter in a field
  submits nothing, as in the text backend; a searchbox's form has none, so Enter searches (a GET
  to the search page for the shop and forum searches).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from urllib.parse import urlsplit

from agentgym_envs.envs.webarena import pages
from agentgym_envs.envs.webarena.pages import Node, Page

# Searches that are plain GET forms on the real sites: the op, and the page the query goes to.
SEARCH_PAGES = {
    op: url.partition("?")[0]
    for op, url in (("shop_search", pages.search_url("")), ("forum_search", pages.forum_search_url("")))
}
LEAF_ROLES = ("link", "StaticText", "heading", "button", "textbox", "searchbox")
ROW_HEIGHT = 16  # px; 720 / 16 = 45 rows, the text backend's viewport
STYLE = (
    "*{box-sizing:border-box}"
    "body{margin:0;font:13px/16px sans-serif;color:#222;background:#fff}"
    f".row{{display:block;height:{ROW_HEIGHT}px;margin:0;padding:0;white-space:nowrap;overflow:hidden;"
    "text-overflow:ellipsis;font:inherit}"
    "h1.row,h2.row{font-weight:bold}"
    "input.row,textarea.row{width:480px;padding:0 4px;border:1px solid #888;resize:none}"
    "button.row{padding:0 8px;border:1px solid #888;background:#eee;font-size:12px;line-height:14px}"
    ".d1{margin-left:8px}.d2{margin-left:28px}.d3{margin-left:48px}.d4{margin-left:68px}"
)

_MARKUP = re.compile(r"(?P<tag>[a-z][a-z0-9]*)?(?P<rest>(?:[.#][\w-]+|\[[\w-]+=[^\]]*\])*)")
_MARKUP_PART = re.compile(r"([.#])([\w-]+)|\[([\w-]+)=([^\]]*)\]")


def parse_markup(selector: str) -> tuple[str | None, dict[str, str]]:
    """``"form.vote.vote--user-upvoted"`` -> ``("form", {"class": "vote vote--user-upvoted"})``:
    an element name (or None), then classes, an id and ``[attribute=value]`` pairs."""
    match = _MARKUP.fullmatch(selector)
    if match is None:
        raise ValueError(f"markup {selector!r} is not of the form tag.class#id[attribute=value]")
    classes, attributes = [], {}
    for mark, name, attribute, value in _MARKUP_PART.findall(match["rest"]):
        if mark == ".":
            classes.append(name)
        elif mark == "#":
            attributes["id"] = name
        else:
            attributes[attribute] = value.strip("\"'")
    if classes:
        attributes["class"] = " ".join(classes)
    return match["tag"], attributes


def attributes_html(attributes: dict[str, str | None]) -> str:
    """` name="value"` pairs, every value escaped; a None value is a bare boolean attribute."""
    return "".join(f" {k}" if v is None else f' {k}="{escape(str(v))}"' for k, v in attributes.items())


class _Form:
    """One form: where it goes, and whether it is a box (its class comes from the page)."""

    def __init__(self, form_id: str, method: str, action: str, attributes: dict[str, str] | None = None):
        self.id, self.method, self.action = form_id, method, action
        self.attributes = attributes or {}
        self.written = False


def is_button(node: Node) -> bool:
    return node.role == "button" and node.op is not None


def form_box_index(node: Node) -> int | None:
    """Where in ``node.boxes`` its form box is (``form...``), or None."""
    return next((k for k, box in enumerate(node.boxes) if box.startswith("form")), None)


def assign_forms(nodes: tuple[Node, ...], action: str, href_for: Callable[[str], str]) -> dict[int, _Form]:
    """Which form each control (by node index) submits; see the module docstring."""
    forms: dict[int, _Form] = {}
    pending: list[int] = []  # fields typed into before the button that sends them
    count = 0

    def new_form(method: str, to: str, attributes: dict[str, str] | None = None) -> _Form:
        nonlocal count
        count += 1
        return _Form(f"form-{count}", method, to, attributes)

    for index, node in enumerate(nodes):
        box_at = form_box_index(node)
        if box_at is not None:  # the page's own form: every node of the run shares it
            key = node.boxes[: box_at + 1]
            joins = index > 0 and nodes[index - 1].boxes[: box_at + 1] == key
            forms[index] = forms[index - 1] if joins else new_form("post", action, parse_markup(key[-1])[1])
        elif node.role == "searchbox" and node.op is not None:
            search = SEARCH_PAGES.get(node.op.partition(":")[0])
            forms[index] = new_form("get", href_for(search)) if search else new_form("post", action)
        elif node.field is not None:
            pending.append(index)
        elif is_button(node):
            form = new_form("post", action)
            for field_index in (*pending, index):
                forms[field_index] = form
            pending = []
    return forms


class _Document:
    """Writes one page's body: boxes, containers and rows, each form before its first control."""

    def __init__(self, page: Page, forms: dict[int, _Form], href_for: Callable[[str], str]):
        self.nodes, self.forms, self.href_for = page.nodes, forms, href_for
        self.out: list[str] = []
        self.headings = 0

    def write(self, start: int, end: int, level: int) -> None:
        index = start
        while index < end:
            node = self.nodes[index]
            if len(node.boxes) > level:
                key = node.boxes[: level + 1]
                stop = index
                while stop < end and self.nodes[stop].boxes[: level + 1] == key:
                    stop += 1
                self.box(key[-1], index, stop, level + 1)
            elif node.role not in LEAF_ROLES:
                stop = index + 1
                while (
                    stop < end
                    and self.nodes[stop].depth > node.depth
                    and len(self.nodes[stop].boxes) == level
                ):
                    stop += 1
                self.container(index, stop, level)
            else:
                self.leaf(index)
                stop = index + 1
            index = stop

    def box(self, selector: str, start: int, end: int, level: int) -> None:
        tag, attributes = parse_markup(selector)
        if tag == "form":  # written empty and hidden; its controls point at it
            self.write_form(self.forms[start])
            self.write(start, end, level)
            return
        self.out.append(f"<{tag or 'div'}{attributes_html(attributes)}>")
        self.write(start, end, level)
        self.out.append(f"</{tag or 'div'}>")

    def container(self, start: int, end: int, level: int) -> None:
        node = self.nodes[start]
        tag, attributes = parse_markup(node.markup)
        own = {"role": node.role, "aria-label": node.name, **attributes}
        self.out.append(f"<{tag or 'div'}{attributes_html(own)}>")
        self.out.append(f'<div class="row d{node.depth}" aria-hidden="true">{escape(node.name)}</div>')
        self.write(start + 1, end, level)
        self.out.append(f"</{tag or 'div'}>")

    def write_form(self, form: _Form) -> None:
        if form.written:
            return
        form.written = True
        attributes = {"id": form.id, "method": form.method, "action": form.action, "hidden": None}
        inner = ""
        if form.method == "post":  # Enter in a field must not submit (see the module docstring)
            inner = '<button type="submit" disabled hidden aria-hidden="true"></button>'
        self.out.append(f"<form{attributes_html({**attributes, **form.attributes})}>{inner}</form>")

    def leaf(self, index: int) -> None:
        node = self.nodes[index]
        form = self.forms.get(index) if node.role in ("button", "textbox", "searchbox") else None
        if form is not None:
            self.write_form(form)
        tag, attributes = parse_markup(node.markup)
        classes = " ".join(filter(None, (f"row d{node.depth}", attributes.pop("class", None))))
        own: dict[str, str | None] = {"class": classes}
        if node.role == "link":
            tag, own["href"] = tag or "a", self.href_for(node.href or "")
        elif node.role == "heading":
            self.headings += 1
            tag = tag or ("h1" if self.headings == 1 else "h2")
        elif node.role == "button":
            tag = tag or "button"
            own.update({"type": "submit", "name": "op", "value": node.op} if form else {"type": "button"})
        elif node.role in ("textbox", "searchbox"):
            tag = tag or "input"
            if tag == "input":
                own["type"] = "search" if node.role == "searchbox" else "text"
            own.update({"name": node.field or "", "aria-label": node.name, "placeholder": node.name})
            if node.required:
                own["aria-required"] = "true"
        else:
            tag = tag or "p"
        if form is not None:
            own["form"] = form.id
        if form is not None and node.role == "searchbox" and form.method == "post":
            self.out.append(
                f'<input type="hidden" name="op" value="{escape(node.op or "")}" form="{form.id}">'
            )
        content = "" if tag in ("input", "textarea") else escape(node.name)  # a field starts empty
        closing = "" if tag == "input" else f"</{tag}>"
        self.out.append(f"<{tag}{attributes_html({**own, **attributes})}>{content}{closing}")


def page_html(page: Page, url: str, href_for: Callable[[str], str] = str) -> str:
    """The HTML document of ``page``, which is at ``url`` (its forms post back there).
    ``href_for`` turns a node's URL into the href to write (the server makes same-site links
    relative and other sites' links point at their live origins)."""
    action = href_for(url)
    forms = assign_forms(page.nodes, action, href_for)
    document = _Document(page, forms, href_for)
    document.write(0, len(page.nodes), 0)
    body = "\n".join(document.out)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(page.title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def site_path(url: str) -> str:
    """The path and query of ``url``: its address relative to its own site."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
