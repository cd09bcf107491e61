"""Sphinx extension: tables made from the code at build time, so the docs cannot drift from it.

``{agentgym-config} agentgym_rl.bc.BCConfig``
    The flags a config dataclass gives its command, one table per flag group, exactly as
    ``agentgym <command> --help`` lists them (:func:`agentgym_rl.cli.flag_classes`): each field's
    flag, type, default and ``metadata["help"]``; a held config (``AgentEvolConfig.rollout``)
    is a second table, without the fields its holder decides itself (``not_flags``).

``{agentgym-env-table}``
    The registry's env table (:func:`agentgym_envs.registration.env_table_markdown`, as in
    README), each id linked to its generated page.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import types
import typing
from typing import Any

from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("agentgym-config", ConfigTable)
    app.add_directive("agentgym-env-table", EnvTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


class ConfigTable(SphinxDirective):
    required_arguments = 1

    def run(self) -> list:
        module_name, _, class_name = self.arguments[0].rpartition(".")
        module = importlib.import_module(module_name)
        config = getattr(module, class_name)
        for cls in config.__mro__:  # a change to the config or a base rebuilds the page
            if dataclasses.is_dataclass(cls):
                self.env.note_dependency(inspect.getfile(cls))
        return self.parse_text_to_nodes(config_tables(config))


class EnvTable(SphinxDirective):
    def run(self) -> list:
        from agentgym_envs.registration import FAMILIES, env_table_markdown

        table = env_table_markdown()
        for fam in FAMILIES.values():
            link = f"{{doc}}`{fam.env_id} </envs/{fam.name.lower()}>`"
            table = table.replace(f"| `{fam.env_id}` |", f"| {link} |", 1)
        return self.parse_text_to_nodes(table)


def config_tables(config: type) -> str:
    """Markdown: a table of ``config``'s own flags, then one per config it holds."""
    from agentgym_rl.cli import flag_classes

    parts = []
    for flags in flag_classes(config):
        group = getattr(flags, "_argument_group_name", None)
        if group:
            held = next(
                typing.get_type_hints(config)[item.name]
                for item in dataclasses.fields(config)
                if item.metadata.get("help", item.name) == group
            )
            parts.append(f"Flags of the held `{held.__name__}`, {group}:")
        parts.append(flag_table(flags))
    return "\n\n".join(parts)


def flag_table(flags: type) -> str:
    hints = typing.get_type_hints(flags)
    rows = ["| flag | type | default | what it sets |", "|---|---|---|---|"]
    for item in dataclasses.fields(flags):
        rows.append(
            f"| `--{item.name}` | {cell(type_name(hints[item.name]))} | {cell(default_text(item))} "
            f"| {cell(item.metadata.get('help', ''))} |"
        )
    return "\n".join(rows)


def type_name(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return " | ".join(str(value) for value in typing.get_args(hint))
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join(type_name(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return hint.__name__ if isinstance(hint, type) and not typing.get_args(hint) else str(hint)


def default_text(item: dataclasses.Field) -> str:
    if item.default is not dataclasses.MISSING:
        value = item.default
    elif item.default_factory is not dataclasses.MISSING:
        value = item.default_factory()
    else:
        return "(required)"
    if isinstance(value, (list, tuple)):
        return " ".join(str(part) for part in value) or "(none)"
    return str(value)


def cell(text: str) -> str:
    """Plain text on one line of a Markdown table or paragraph: no line breaks, and no character
    that Markdown would read as markup (a pipe ends a table cell, ``<`` starts HTML, ...)."""
    return re.sub(r"([|*_`<>\[\]\\])", r"\\\1", " ".join(str(text).split()))
