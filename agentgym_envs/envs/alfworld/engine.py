"""ALFWorld games on ALFWorld's engine (textworld's PDDL logic and grammar, fast-downward's
state and planner), without the work alfworld's own env repeats.

alfworld's ``AlfredTWEnv`` goes through ``textworld.envs.PddlEnv``: every load translates the PDDL
problem to SAS twice and parses the whole text grammar, and every step lists every fact once per
admissible action and re-derives every admissible command through the grammar. Here, per game,
the translation is done once and kept on disk, the grammar is parsed once per process (games
differ only in their task sentence), and a command's text is derived once per game (commands
name static things: "go to" lists the receptacles at a fixed location). What the player reads
comes from the same grammar, state and planner, so the text is the engine's own; a test plays
real games side by side with textworld's ``PddlEnv`` and compares every observation.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import re
import sys
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

from agentgym_envs.registration import engine_imports

with engine_imports("ALFWorld"):
    import fast_downward
    import textworld.logic
    from alfworld.agents.utils.misc import Demangler
    from textworld.envs.pddl import logic as pddl_logic
    from textworld.envs.pddl import textgen
    from textworld.envs.pddl.textgen import ContextSensitiveGrammar
    from textworld.generator.game import EntityInfo
    from textworld.logic import Action, Placeholder, Proposition, Variable

NOTHING_HAPPENS = "Nothing happens."  # textworld's PddlEnv, for any command that is not admissible
_TASK_RULE = re.compile(r'("task": \[\s*\{\s*"rhs": )"Your task is to: (.*?)"(\s*\}\s*\])', re.DOTALL)
_CACHE_VERSION = 3
_MEMORY_GAMES = 64  # compiled games kept per process


def cache_dir() -> Path:
    """``$AGENTGYM_CACHE/alfworld`` (default ``~/.cache/agentgym/alfworld``)."""
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / "alfworld"


# ------------------------------------------------------------------------------ compiled games
@dataclass
class CompiledGame:
    """What never changes in one game; shared by every env of the process."""

    key: str
    logic: object  # textworld's pddl GameLogic with this game's task sentence
    sas: bytes
    source: tuple[str, str, Path]  # PDDL domain, problem, and the cache file (for replan_sas)
    actions: dict  # operator name -> fast-downward action schema (its parameters)
    name2type: dict
    initial_facts: list
    names: dict  # PDDL id -> the name the player reads ("cabinet 3")
    commands: dict  # operator name -> command text, filled as operators show up


@contextlib.contextmanager
def _quiet_translator():
    """fast-downward's translator overwrites sys.argv and prints; keep both as they were."""
    argv, stdout = sys.argv, sys.stdout
    sys.stdout = io.StringIO()
    try:
        yield
    finally:
        sys.argv, sys.stdout = argv, stdout


_LOGICS: dict[str, object] = {}


def _logic_for(domain: str, grammar: str):
    """A GameLogic for this grammar. Parsing a grammar takes about a second, and the games
    differ only in their task sentence: parse the rest once, then swap the "task" rule."""
    match = _TASK_RULE.search(grammar)
    if match is None:  # not an ALFWorld grammar we know: parse it whole, once
        key = hashlib.sha1((domain + grammar).encode()).hexdigest()
        if key not in _LOGICS:
            _LOGICS[key] = pddl_logic.GameLogic(domain=domain, grammar=grammar)
        return _LOGICS[key]
    template = grammar[: match.start(2)] + "TASK" + grammar[match.end(2) :]
    key = hashlib.sha1((domain + template).encode()).hexdigest()
    if key not in _LOGICS:
        _LOGICS[key] = pddl_logic.GameLogic(domain=domain, grammar=grammar)
    base = _LOGICS[key]
    logic = object.__new__(type(base))
    logic.__dict__.update(base.__dict__)
    logic.grammar = ContextSensitiveGrammar()
    logic.grammar._rules = defaultdict(list, base.grammar._rules)
    task = json.loads('"' + match.group(2) + '"')
    logic.grammar._rules["task"] = ContextSensitiveGrammar.parse(
        json.dumps({"task": [{"rhs": f"Your task is to: {task}"}]})
    )._rules["task"]
    return logic


def _translate(domain: str, problem: str, lib) -> dict:
    """The slow part of loading a game: PDDL -> SAS, and the initial facts and names. (textworld
    also makes the planner's optimised SAS on every load; here :func:`replan_sas` makes it the
    first time the planner is asked.)"""
    with _quiet_translator():
        task, sas = fast_downward.pddl2sas(domain, problem)
    name2type = {o.name: o.type_name for o in task.objects}
    facts = []
    for atom in task.init:
        if isinstance(atom, fast_downward.translate.pddl.conditions.Atom) and atom.predicate != "=":
            facts.append(Proposition(atom.predicate, [Variable(a, name2type[a]) for a in atom.args]))
    lib.load_sas(sas.encode("utf-8"))
    atoms = (pddl_logic.Atom * lib.get_state_size())()
    lib.get_state(atoms)
    facts += [f for f in (atom.get_fact(name2type) for atom in atoms) if not f.is_negation]
    entities = {v.name: EntityInfo(v.name, v.type) for fact in facts for v in fact.arguments}
    demangler = Demangler(game_infos=entities, shuffle=False)  # AgentGym plays unshuffled names
    names = {name: demangler.demangle_alfred_name(name) for name in entities}
    # Plain tuples only: textworld's Propositions cache their hash, which differs between
    # processes (string hashing is salted), so pickled ones break set lookups after loading.
    facts = [(f.name, tuple((v.name, v.type) for v in f.arguments)) for f in facts]
    actions = {a.name: tuple((p.name, p.type_name) for p in a.parameters) for a in task.actions}
    types = [(t.name, t.supertype_names) for t in task.types]
    return dict(
        sas=sas,
        actions=actions,
        types=types,
        name2type=name2type,
        facts=facts,
        names=names,
    )


def replan_sas(game: CompiledGame) -> bytes:
    """The optimised SAS the planner searches (about as slow as loading: made once, kept on disk)."""
    domain, problem, path = game.source
    if path.exists():
        return path.read_bytes()
    with _quiet_translator():
        _, sas = fast_downward.pddl2sas(domain, problem, optimize=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(sas.encode("utf-8"))
    tmp.replace(path)
    return sas.encode("utf-8")


class _Schema:
    """An operator schema's parameters, as textworld reads them from fast-downward's task."""

    def __init__(self, params):
        self.parameters = [SimpleNamespace(name=name, type_name=kind) for name, kind in params]


_GAMES: OrderedDict[str, CompiledGame] = OrderedDict()


def compile_game(data: dict, lib, cache: Path | None = None) -> CompiledGame:
    """A game file's content, compiled: from memory, else from the disk cache (``cache``, default
    :func:`cache_dir`), else translated (and written to the cache)."""
    domain, problem = data["pddl_domain"], data["pddl_problem"]
    key = hashlib.sha1(f"{_CACHE_VERSION}\0{domain}\0{problem}\0{data['grammar']}".encode()).hexdigest()
    game = _GAMES.get(key)
    if game is not None:
        _GAMES.move_to_end(key)
        return game
    path = (cache or cache_dir()) / "compiled" / key[:2] / f"{key}.pickle"
    parts = None
    if path.exists():
        try:
            parts = pickle.loads(path.read_bytes())
        except Exception:  # a truncated or stale file: translate again
            parts = None
    if parts is None:
        parts = _translate(domain, problem, lib)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL))
        tmp.replace(path)  # atomic: a concurrent reader sees the old file or the whole new one
    logic = _logic_for(domain, data["grammar"])
    for name, supertypes in parts["types"]:  # what PddlState adds to the logic on every load
        with contextlib.suppress(ValueError):  # already known
            logic.types.add(textworld.logic.Type(name, supertypes))
    game = CompiledGame(
        key=key,
        logic=logic,
        sas=parts["sas"].encode("utf-8"),
        source=(domain, problem, path.with_suffix(".replan")),
        actions={name: _Schema(params) for name, params in parts["actions"].items()},
        name2type=parts["name2type"],
        initial_facts=[Proposition(name, [Variable(*arg) for arg in args]) for name, args in parts["facts"]],
        names=parts["names"],
        commands={},
    )
    _GAMES[key] = game
    if len(_GAMES) > _MEMORY_GAMES:
        _GAMES.popitem(last=False)
    return game


# ------------------------------------------------------------------------------ the state
class _State(pddl_logic.PddlState):
    """textworld's PddlState, built from a compiled game instead of translating the problem."""

    def __init__(self, lib, game: CompiledGame):  # no super().__init__: it would translate again
        self._facts = defaultdict(set)
        self._vars_by_name = {}
        self._vars_by_type = defaultdict(set)
        self._var_counts = Counter()
        self._logic = game.logic
        self.downward_lib = lib
        self._actions = game.actions
        self.name2type = game.name2type
        lib.load_sas(game.sas)
        self.add_facts(game.initial_facts)


# ------------------------------------------------------------------------------ text
@lru_cache(maxsize=4096)
def _symbols(start: str) -> tuple:
    return tuple(textgen._parse_and_convert(start, rule_name="symbols"))


@lru_cache(maxsize=4096)
def _query(expression: str):
    return textworld.logic.Rule.parse_conjunctive_query(expression)


def derive(grammar, start: str, context: dict) -> str:
    """textworld's ``ContextSensitiveGrammar.derive``, step for step, without its cost: it parses
    the start text and every rule condition with TatSu on every call and deep-copies the context
    (entity infos included) for every symbol. Symbols here are never changed, so the parses are
    cached and each symbol is paired with its own (shallow-copied) context instead."""
    stack = [(symbol, context) for symbol in reversed(_symbols(start))]
    out = []
    while stack:
        symbol, ctx = stack.pop()
        if isinstance(symbol, textgen.TerminalSymbol):
            out.append(str(symbol.symbol))
        elif isinstance(symbol, textgen.NonterminalSymbol):
            rhs = _first_applicable(grammar, symbol, ctx).rhs
            stack += [(s, ctx) for s in reversed(rhs)]
        elif isinstance(symbol, textgen.EvalSymbol):
            out.append(str(eval(symbol.expression, vars(textgen), dict(ctx["variables"]))))
        elif isinstance(symbol, textgen.ConditionalSymbol):
            stack += [(symbol.expression, c) for c in reversed(_contexts(symbol.given, ctx))]
        elif isinstance(symbol, textgen.ListSymbol):
            stack += list(reversed(_listed(symbol.symbol, ctx)))
        else:
            raise NotImplementedError(f"unknown symbol: {type(symbol)}")
    return "".join(out)


def _first_applicable(grammar, symbol, ctx):
    rules = grammar._rules.get(str(symbol))
    if not rules:
        raise textgen.CSGUnknownSymbolError(symbol)
    for rule in rules:  # textworld keeps the applicable ones and takes the first
        if (
            not rule.condition
            or next(iter(ctx["state"].all_assignments(_query(rule.condition), ctx["mapping"])), None)
            is not None
        ):
            return rule
    raise IndexError(f"no applicable rule for #{symbol}#")  # textworld: rules[0] of an empty list


def _contexts(given: str, ctx: dict) -> list[dict]:
    """textgen.query: one context per way the condition holds, extending variables and mapping."""
    if not given:
        return [ctx]
    found = []
    for mapping in ctx["state"].all_assignments(_query(given), ctx["mapping"]):
        variables = dict(ctx["variables"])
        variables.update({ph.name: ctx["entity_infos"][var.name] for ph, var in mapping.items()})
        found.append({**ctx, "variables": variables, "mapping": {**ctx["mapping"], **mapping}})
    return found


def _listed(symbol, ctx: dict) -> list[tuple]:
    """textgen.ListSymbol + display_list: the items joined by #list_separator# and
    #list_last_separator#, or #list_empty#."""
    if isinstance(symbol, textgen.ConditionalSymbol):
        items = [(symbol.expression, c) for c in _contexts(symbol.given, ctx)]
    else:
        items = [(symbol, ctx)]
    if not items:
        return [(textgen.NonterminalSymbol("list_empty"), ctx)]
    if len(items) == 1:
        return items
    separator, last = (
        textgen.NonterminalSymbol("list_separator"),
        textgen.NonterminalSymbol("list_last_separator"),
    )
    joined = []
    for item in items[:-1]:
        joined += [item, (separator, ctx)]
    joined[-1] = (last, ctx)
    return joined + [items[-1]]


_SPARE_LIBRARIES: list = []  # fast-downward copies of closed engines, reused by new ones


class AlfredEngine:
    """One ALFWorld game being played: reset, step, admissible commands, planner.

    Holds its own copy of fast-downward's library (its state is global to the library), given
    back by :meth:`close` for the next engine to use."""

    def __init__(self):
        self.lib = _SPARE_LIBRARIES.pop() if _SPARE_LIBRARIES else fast_downward.load_lib()
        self.game: CompiledGame | None = None
        self.state: _State | None = None
        self._entities: dict = {}
        self._operators: dict[str, object] = {}  # command -> applicable operator
        self._planner_ready = False
        self.won = False

    def load(self, data: dict, cache: Path | None = None) -> None:
        self.game = compile_game(data, self.lib, cache)
        self._entities = {}
        for name, shown in self.game.names.items():
            info = EntityInfo(name, self.game.name2type.get(name))
            info.name, info.definite, info.indefinite = shown, "the", "a"
            self._entities[name] = info

    def reset(self) -> str:
        """Start the loaded game again; the intro text ("-= Welcome to TextWorld, ALFRED! =-" ...)."""
        self.state = _State(self.lib, self.game)
        self._planner_ready = False
        self.won = False
        self._refresh()
        return derive(self.game.logic.grammar, "#intro#", self._context({}))

    def step(self, command: str) -> str:
        """Carry out one command; the engine's feedback. Not admissible -> "Nothing happens."."""
        operator = self._operators.get(command.strip())
        if operator is None:
            return NOTHING_HAPPENS
        action = self._action(operator)
        effects = (pddl_logic.Atom * operator.nb_effect_atoms)()
        self.lib.apply_operator(operator.id, effects)
        for effect in effects:
            fact = effect.get_fact(self.state.name2type)
            self.state.remove_fact(fact.negate())
            self.state.add_fact(fact)
        variables = {ph.name: self._entities[var.name] for ph, var in action.mapping.items()}
        rule = self.game.logic.actions[action.name].feedback_rule
        feedback = derive(self.game.logic.grammar, rule, self._context(action.mapping, variables))
        self.won = bool(self.lib.check_goal())
        self._refresh()
        return feedback

    @property
    def names(self) -> dict[str, str]:
        """PDDL id -> the name the player reads."""
        return self.game.names

    def admissible_commands(self) -> list[str]:
        return sorted(self._operators)

    def plan(self) -> list[str]:
        """fast-downward's plan from the current state (commands), or [] if it finds none."""
        if not self._planner_ready:
            self.lib.load_sas_replan(replan_sas(self.game))
            self._planner_ready = True
        return self.state.replan(self._entities)

    def close(self) -> None:
        """Free the planner's state and keep the library for the next engine: unloading it
        (fast-downward's ``close_lib``) makes the process crash at exit once two were unloaded."""
        if self.lib is not None:
            self.lib.cleanup()
            _SPARE_LIBRARIES.append(self.lib)
            self.lib = None

    # -------------------------------------------------------------- helpers
    def _context(self, mapping: dict, variables: dict | None = None) -> dict:
        return {
            "state": self.state,
            "facts": [],  # textworld passes every fact here; no grammar rule reads them
            "variables": variables or {},
            "mapping": mapping,
            "entity_infos": self._entities,
        }

    def _refresh(self) -> None:
        """The applicable operators, keyed by their command text (the first operator of a
        command wins, as in textworld, which looks commands up with ``list.index``)."""
        count = self.lib.get_applicable_operators_count()
        operators = (fast_downward.Operator * count)()
        self.lib.get_applicable_operators(operators)
        commands = self.game.commands
        self._operators = {}
        for operator in operators:
            name = operator.name
            command = commands.get(name)
            if command is None:
                command = commands[name] = self._command_text(operator)
            self._operators.setdefault(command, operator)

    def _action(self, operator) -> Action:
        name, *arguments = operator.name.split()
        action = Action(name=name, preconditions=[], postconditions=[])
        action.mapping = {
            Placeholder(p.name.strip("?"), p.type_name): Variable(arg, p.type_name)
            for p, arg in zip(self.game.actions[name].parameters, arguments)
        }
        return action

    def _command_text(self, operator) -> str:
        """What textworld's PddlEnv derives for an operator (its template through the grammar,
        then the entity names)."""
        action = self._action(operator)
        variables = {ph.name: self._entities[var.name] for ph, var in action.mapping.items()}
        template = self.game.logic.actions[action.name].template
        action.command_template = derive(
            self.game.logic.grammar, template, self._context(action.mapping, variables)
        )
        return action.format_command({k: info.name for k, info in self._entities.items()})
