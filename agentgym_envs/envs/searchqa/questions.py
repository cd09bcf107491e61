"""SearchQA's questions: AgentGym's item ids and data sources, questions of each source's kind asked
about the generated encyclopedia, a parser that reads a question back into the hops it asks for,
and Search-R1's question files.

AgentGym numbers its SearchQA items by data source (``agentenv-searchqa``'s README): test ids
0-51,712 are NQ, TriviaQA, PopQA, HotpotQA, 2WikiMultihopQA, MuSiQue and Bamboogle in that order,
train ids 51,713-221,327 are NQ then HotpotQA. A generated question is of its id's source's kind:

* NQ (lower case, as Natural Questions' are), TriviaQA and PopQA (PopQA's own templates, "What is
  X's occupation?"): single-hop, one fact of one entity;
* HotpotQA: bridge questions (two facts chained through an entity) and comparisons;
* 2WikiMultihopQA: comparisons, compositional two-hop questions and "paternal grandfather" inference;
* MuSiQue: three-hop compositional questions;
* Bamboogle: two-hop compositional questions.

Gold answers are computed from the world's facts. A multi-hop question is kept only if no passage
naming its entity holds its answer (so no single passage answers it), and a comparison only if no
passage names both of its entities.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from agentgym_envs.envs.searchqa.scoring import normalize_answer
from agentgym_envs.envs.searchqa.world import Ref, World

# ------------------------------------------------------------------------------ AgentGym's ids
TEST_SOURCES = {
    "nq": (0, 3610),
    "triviaqa": (3610, 14923),
    "popqa": (14923, 29190),
    "hotpotqa": (29190, 36595),
    "2wikimultihopqa": (36595, 49171),
    "musique": (49171, 51588),
    "bamboogle": (51588, 51713),
}
TRAIN_SOURCES = {"nq": (51713, 130881), "hotpotqa": (130881, 221328)}
NUM_TEST, NUM_TASKS = 51713, 221328


def data_source(task_id: int) -> str:
    """The dataset AgentGym's item ``searchqa_<task_id>`` comes from."""
    for sources in (TEST_SOURCES, TRAIN_SOURCES):
        for name, (start, stop) in sources.items():
            if start <= task_id < stop:
                return name
    raise ValueError(f"SearchQA has task ids 0..{NUM_TASKS - 1}, got {task_id}")


# ------------------------------------------------------------------------------ relations
# relation -> (subject kind, kind of its value: an entity kind, or None for text)
RELATIONS = {
    "born": ("person", None),
    "birthplace": ("person", "city"),
    "occupation": ("person", None),
    "father": ("person", "person"),
    "alma_mater": ("person", "org"),
    "employer": ("person", "org"),
    "creator": ("work", "person"),
    "year": ("work", None),
    "genre": ("work", None),
    "org": ("work", "org"),
    "founded": ("org", None),
    "founder": ("org", "person"),
    "hq": ("org", "city"),
    "country": ("city", "country"),
    "river": ("city", None),
    "population": ("city", None),
    "capital": ("country", "city"),
    "currency": ("country", None),
}
STYLES = ("nq", "popqa", "trivia")


def _styles(nq: str, popqa: str, trivia: str) -> dict[str, tuple[str, ...]]:
    return {"nq": (nq,), "popqa": (popqa,), "trivia": (trivia,)}


# How a question asks for a fact of {x}, per style ("nq" is written lower case, and gets the "?"
# Search-R1's data script adds). Keys "relation:work kind" where the words depend on the work.
ASK: dict[str, dict[str, tuple[str, ...]]] = {
    "born": _styles("when was {x} born", "In what year was {x} born?", "In which year was {x} born?"),
    "birthplace": _styles("where was {x} born", "In what city was {x} born?", "Which city was {x} born in?"),
    "occupation": _styles(
        "what is the occupation of {x}", "What is {x}'s occupation?", "What was the profession of {x}?"
    ),
    "father": _styles("who is the father of {x}", "Who is the father of {x}?", "Who was {x}'s father?"),
    "alma_mater": _styles(
        "where did {x} go to university", "Where was {x} educated?", "At which university did {x} study?"
    ),
    "employer": _styles(
        "who did {x} work for", "Who was the employer of {x}?", "Which organisation employed {x}?"
    ),
    "creator:novel": _styles("who wrote {x}", "Who is the author of {x}?", "Which novelist wrote {x}?"),
    "creator:film": _styles(
        "who directed {x}", "Who was the director of {x}?", "Which film director made {x}?"
    ),
    "creator:album": _styles(
        "who recorded {x}", "Who is the performer of {x}?", "Which singer recorded {x}?"
    ),
    "year": _styles(
        "when did {x} come out", "In what year was {x} released?", "In which year did {x} first appear?"
    ),
    "genre": _styles("what genre is {x}", "What genre is {x}?", "To which genre does {x} belong?"),
    "org:novel": _styles(
        "who published {x}", "Who was the publisher of {x}?", "Which publishing house issued {x}?"
    ),
    "org:film": _styles(
        "what studio produced {x}", "Who was the producer of {x}?", "Which film studio made {x}?"
    ),
    "org:album": _styles(
        "what label released {x}",
        "What is the record label of {x}?",
        "On which record label was {x} released?",
    ),
    "founded": _styles(
        "when was {x} founded", "In what year was {x} founded?", "In which year was {x} established?"
    ),
    "founder": _styles("who founded {x}", "Who was the founder of {x}?", "Who established {x}?"),
    "hq": _styles(
        "where is {x} headquartered",
        "In what city is {x} headquartered?",
        "Which city is home to the headquarters of {x}?",
    ),
    "country": _styles(
        "what country is {x} in", "In what country is {x}?", "Which country is {x} located in?"
    ),
    "river": _styles(
        "what river flows through {x}", "What river flows through {x}?", "On which river does {x} lie?"
    ),
    "population": _styles(
        "what is the population of {x}", "What is the population of {x}?", "How many people live in {x}?"
    ),
    "capital": _styles(
        "what is the capital of {x}", "What is the capital of {x}?", "Which city is the capital of {x}?"
    ),
    "currency": _styles(
        "what is the currency of {x}",
        "What currency is used in {x}?",
        "What is the official currency of {x}?",
    ),
}
# How a question names the value of a fact of {x}, to ask about it in turn.
OF: dict[str, tuple[str, ...]] = {
    "birthplace": ("the city where {x} was born", "the birthplace of {x}"),
    "father": ("the father of {x}",),
    "alma_mater": ("the university {x} attended",),
    "employer": ("the employer of {x}", "the organisation {x} worked for"),
    "creator:novel": ("the author of {x}",),
    "creator:film": ("the director of {x}",),
    "creator:album": ("the performer of {x}",),
    "org:novel": ("the publisher of {x}",),
    "org:film": ("the studio that produced {x}",),
    "org:album": ("the record label of {x}",),
    "founder": ("the founder of {x}",),
    "hq": ("the city where {x} is headquartered",),
    "country": ("the country where {x} is located",),
    "capital": ("the capital of {x}",),
}
# Two hops said in one phrase ("the country where X was born").
COMPOSITE: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("birthplace", "country"): {
        "of": ("the country where {x} was born",),
        "nq": ("what country was {x} born in",),
        "popqa": ("In what country was {x} born?",),
        "trivia": ("In which country was {x} born?",),
    },
    ("hq", "country"): {
        "of": ("the country where {x} is headquartered",),
        "nq": ("what country is {x} headquartered in",),
        "popqa": ("In what country is {x} headquartered?",),
        "trivia": ("In which country does {x} have its headquarters?",),
    },
    ("father", "father"): {
        "of": ("the paternal grandfather of {x}",),
        "nq": ("who is the paternal grandfather of {x}",),
        "popqa": ("Who is the paternal grandfather of {x}?",),
        "trivia": ("Who was {x}'s paternal grandfather?",),
    },
}
CHAINS_2 = (
    ("creator", "birthplace"), ("creator", "born"), ("creator", "father"), ("creator", "alma_mater"),
    ("creator", "employer"), ("org", "founder"), ("org", "hq"), ("org", "founded"), ("founder", "birthplace"),
    ("founder", "born"), ("founder", "alma_mater"), ("father", "birthplace"), ("father", "occupation"),
    ("father", "born"), ("birthplace", "country"), ("birthplace", "river"), ("alma_mater", "founder"),
    ("alma_mater", "hq"), ("alma_mater", "founded"), ("employer", "founder"), ("employer", "hq"),
    ("hq", "country"), ("country", "capital"), ("country", "currency"),
)  # fmt: skip
CHAINS_3 = (
    ("creator", "birthplace", "country"), ("creator", "father", "birthplace"),
    ("org", "founder", "birthplace"), ("org", "hq", "country"), ("creator", "alma_mater", "founder"),
    ("father", "birthplace", "country"),
    ("birthplace", "country", "capital"), ("birthplace", "country", "currency"),
    ("founder", "birthplace", "country"), ("creator", "employer", "hq"), ("employer", "hq", "country"),
    ("alma_mater", "hq", "country"),
)  # fmt: skip
# relation compared -> (how, templates)
COMPARE: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "born": (
        "earlier",
        {
            "nq": ("who was born first {a} or {b}",),
            "formal": ("Who was born first, {a} or {b}?", "Who is older, {a} or {b}?"),
        },
    ),
    "year": (
        "earlier",
        {
            "nq": ("which came out first {a} or {b}",),
            "formal": ("Which came out first, {a} or {b}?", "Which was released earlier, {a} or {b}?"),
        },
    ),
    "founded": (
        "earlier",
        {
            "nq": ("which was founded first {a} or {b}",),
            "formal": ("Which was founded first, {a} or {b}?", "Which is older, {a} or {b}?"),
        },
    ),
    "population": (
        "larger",
        {
            "nq": ("which city is bigger {a} or {b}",),
            "formal": ("Which city has the larger population, {a} or {b}?",),
        },
    ),
    "birthplace": (
        "same",
        {
            "nq": ("were {a} and {b} born in the same city",),
            "formal": ("Were {a} and {b} born in the same city?",),
        },
    ),
    "occupation": (
        "same",
        {
            "nq": ("do {a} and {b} have the same job",),
            "formal": ("Do {a} and {b} have the same occupation?",),
        },
    ),
    "country": (
        "same",
        {"nq": ("are {a} and {b} in the same country",), "formal": ("Are {a} and {b} in the same country?",)},
    ),
}


@dataclass(frozen=True)
class Plan:
    """What a question asks, read from its words: the named entities, the relations to follow from
    the entity (in order), and for a comparison how the two entities' values are compared."""

    anchors: tuple[str, ...]
    chain: tuple[str, ...]
    compare: str | None = None


@dataclass(frozen=True)
class Question:
    """One task: the question, its gold answers, AgentGym's data source and the kind of question
    (``single-hop``, ``bridge``, ``comparison``, ``3-hop``; None for a question read from a file)."""

    text: str
    answers: tuple[str, ...]
    data_source: str
    kind: str | None = None
    plan: Plan | None = None


# ------------------------------------------------------------------------------ reading questions
def _pattern(template: str) -> re.Pattern:
    """``"Who founded {x}?"`` -> a case-blind pattern whose groups read the slots back (the
    question mark left out: questions are matched without it)."""
    parts = re.split(r"\{(\w)\}", template.rstrip("?"))
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+)" for i, part in enumerate(parts))
    return re.compile(regex, re.IGNORECASE)


def _specific_first(entries):
    """More literal words first, so "In what country is {x} headquartered?" is tried before
    "In what country is {x}?"."""
    return sorted(entries, key=lambda e: -len(re.sub(r"\{\w\}", "", e[0])))


@lru_cache(maxsize=1)
def _parse_tables():
    asks, ofs, compares = [], [], []
    for key, styles in ASK.items():
        relation = key.partition(":")[0]
        asks += [(t, (relation,)) for templates in styles.values() for t in templates]
    for (first, second), phrases in COMPOSITE.items():
        asks += [(t, (first, second)) for style in STYLES for t in phrases[style]]
        ofs += [(t, (first, second)) for t in phrases["of"]]
    for key, templates in OF.items():
        ofs += [(t, (key.partition(":")[0],)) for t in templates]
    for relation, (how, styles) in COMPARE.items():
        compares += [(t, (relation, how)) for templates in styles.values() for t in templates]
    compile_all = lambda entries: [(_pattern(t), value) for t, value in _specific_first(entries)]  # noqa: E731
    return compile_all(asks), compile_all(ofs), compile_all(compares)


def parse_question(text: str) -> Plan | None:
    """The plan of a question written from these templates, or None (a question from elsewhere)."""
    text = " ".join(text.split()).rstrip("?").strip()
    asks, ofs, compares = _parse_tables()
    for pattern, (relation, how) in compares:
        match = pattern.fullmatch(text)
        if match:
            return Plan((match["a"], match["b"]), (relation,), how)
    for pattern, chain in asks:
        match = pattern.fullmatch(text)
        if not match:
            continue
        phrase = match["x"]
        while True:
            for inner, hops in ofs:
                found = inner.fullmatch(phrase)
                if found:
                    phrase, chain = found["x"], hops + chain
                    break
            else:
                return Plan((phrase,), chain)
    return None


# ------------------------------------------------------------------------------ writing questions
class QuestionWriter:
    """Generated questions over one world, one per task id (cached)."""

    ATTEMPTS = 200  # draws before a task id gives up on its kind and asks a single-hop question

    def __init__(self, world: World, seed: int = 0):
        self.world, self.seed = world, seed
        self.question = lru_cache(maxsize=1 << 16)(self._question)
        self._groups: dict[tuple, dict[str, list[int]]] = {}

    def _question(self, task_id: int) -> Question:
        source = data_source(task_id)
        rng = random.Random(f"searchqa-question-{self.seed}-{task_id}")
        test = task_id < NUM_TEST
        shape = _shape(source, rng)
        for _ in range(self.ATTEMPTS):
            question = self._draw(shape, source, test, rng)
            if question is not None:
                return question
        for _ in range(self.ATTEMPTS):  # a tiny world may lack the facts a shape needs
            question = self._draw("single-hop", source, test, rng)
            if question is not None:
                return question
        raise RuntimeError(f"the world is too small to ask question {task_id}")

    def _draw(self, shape: str, source: str, test: bool, rng: random.Random) -> Question | None:
        style = "nq" if source == "nq" else "trivia" if source == "triviaqa" else "popqa"
        if source not in ("nq", "triviaqa", "popqa"):
            style = rng.choice(("popqa", "trivia"))
        if shape == "comparison":
            return self._comparison(source, test, rng, style)
        if shape == "single-hop":
            chain = (rng.choice(list(RELATIONS)),)
        elif shape == "inference":
            chain = ("father", "father")
        else:
            chain = rng.choice(CHAINS_3 if shape == "3-hop" else CHAINS_2)
        return self._chain_question(chain, source, test, rng, style)

    def _chain_question(self, chain, source, test, rng, style) -> Question | None:
        world = self.world
        kind = RELATIONS[chain[0]][0]
        span = world.half_range(kind, test)
        if not span:
            return None
        anchor: Ref = (kind, rng.choice(span))
        subjects, value = [], anchor
        for relation in chain:
            subjects.append(value)
            value = world.fact(value, relation)
            if value is None:
                return None
        answer = world.name(value) if isinstance(value, tuple) else value
        if len(chain) > 1 and self._answered_by_one_passage(anchor, answer):
            return None
        text = self._phrase(chain, subjects, world.name(anchor), style, rng)
        kind_of_question = "single-hop" if len(chain) == 1 else "3-hop" if len(chain) == 3 else "bridge"
        plan = Plan((world.name(anchor),), chain)
        return Question(_finish(text, style), (answer,), source, kind_of_question, plan)

    def _answered_by_one_passage(self, anchor: Ref, answer: str) -> bool:
        """Whether some passage naming the question's entity also holds the answer."""
        wanted = f" {normalize_answer(answer)} "
        world = self.world
        return any(wanted in f" {normalize_answer(world.passage(p))} " for p in world.mentions(anchor))

    def _phrase(self, chain, subjects, anchor_name: str, style: str, rng: random.Random) -> str:
        """The question, from the innermost hop out: "In what city was the author of X born?"."""
        phrase, hop = anchor_name, 0
        while hop < len(chain):
            last = hop == len(chain) - 1
            # Two hops with a phrase of their own are always said with it: "In what country is the
            # city where X is headquartered?" would also read as "In what country is {x} headquartered?".
            pair = tuple(chain[hop : hop + 2])
            if pair in COMPOSITE:
                table, key = COMPOSITE[pair], "of" if hop + 2 < len(chain) else style
            else:
                name = self._phrase_key(chain[hop], subjects[hop])
                table, key = (ASK[name], style) if last else (OF, name)
            phrase = _choose(table, key, hop > 0, rng).format(x=phrase)
            hop += len(pair) if pair in COMPOSITE else 1
        return phrase

    def _phrase_key(self, relation: str, subject: Ref) -> str:
        if relation in ("creator", "org"):
            return f"{relation}:{self.world.works[subject[1]].kind}"
        return relation

    def _comparison(self, source, test, rng, style) -> Question | None:
        world = self.world
        relation = rng.choice(list(COMPARE))
        how, templates = COMPARE[relation]
        kind = RELATIONS[relation][0]
        span = world.half_range(kind, test)
        if len(span) < 2:
            return None
        first: Ref = (kind, rng.choice(span))
        value_a = world.fact(first, relation)
        if how == "same" and rng.random() < 0.5:  # as many yes as no
            group = self._group(kind, relation, test).get(_shown(world, value_a), [])
            second: Ref = (kind, rng.choice(group)) if len(group) > 1 else (kind, rng.choice(span))
        else:
            second = (kind, rng.choice(span))
        value_b = world.fact(second, relation)
        if first == second or value_a is None or value_b is None:
            return None
        if how == "same":
            answer = "yes" if value_a == value_b else "no"
        else:
            number_a, number_b = (int(_shown(world, v).replace(",", "")) for v in (value_a, value_b))
            if number_a == number_b:
                return None
            first_wins = number_a < number_b if how == "earlier" else number_a > number_b
            answer = world.name(first if first_wins else second)
        if set(world.mentions(first)) & set(world.mentions(second)):  # one passage names both
            return None
        names = (world.name(first), world.name(second))
        template = rng.choice(templates["nq" if style == "nq" else "formal"])
        text = template.format(a=names[0], b=names[1])
        return Question(_finish(text, style), (answer,), source, "comparison", Plan(names, (relation,), how))

    def _group(self, kind: str, relation: str, test: bool) -> dict[str, list[int]]:
        """The half's entities of a kind by their value of ``relation``."""
        key = (kind, relation, test)
        if key not in self._groups:
            groups: dict[str, list[int]] = {}
            for index in self.world.half_range(kind, test):
                value = self.world.fact((kind, index), relation)
                groups.setdefault(_shown(self.world, value), []).append(index)
            self._groups[key] = groups
        return self._groups[key]


def _choose(table: dict, key: str, composed: bool, rng: random.Random) -> str:
    """A template of ``table[key]``; for a subject that is itself a phrase ("the director of X"),
    one without a possessive ("Who was the director of X's father?" reads as the director of X's
    father), taken from the other formal style if this one has none."""
    if not composed:
        return rng.choice(table[key])
    keys = (key, "popqa", "trivia") if key in STYLES else (key,)
    for candidate in keys:
        usable = [t for t in table[candidate] if "{x}'s" not in t]
        if usable:
            return rng.choice(usable)
    raise ValueError(f"no template for {key!r} takes a phrase as its subject")


def _shown(world: World, value) -> str:
    return world.name(value) if isinstance(value, tuple) else str(value)


def _shape(source: str, rng: random.Random) -> str:
    """The kind of question an item of ``source`` is, in the proportions of that dataset."""
    draw = rng.random()
    if source in ("nq", "triviaqa", "popqa"):
        return "single-hop"
    if source == "hotpotqa":
        return "bridge" if draw < 0.8 else "comparison"
    if source == "2wikimultihopqa":
        return "comparison" if draw < 0.5 else "bridge" if draw < 0.8 else "inference"
    if source == "musique":
        return "3-hop"
    return "bridge"  # bamboogle: two-hop compositional


def _finish(text: str, style: str) -> str:
    """NQ's questions are lower case; Search-R1's data script ends every question with "?"."""
    if style == "nq":
        text = text.lower()
    return text if text.endswith("?") else text + "?"


# ------------------------------------------------------------------------------ Search-R1's files
class FileQuestions:
    """Questions from Search-R1's files (the parquet its data scripts write, or the same records as
    JSON / JSON lines): ``question``, the gold answers in ``reward_model.ground_truth.target``
    (what AgentGym scores against) or ``golden_answers``, and ``data_source``. Test ids index the
    test file from 0, train ids the train file from 51,713, as AgentGym's server does (past a
    file's end, ids wrap around)."""

    def __init__(self, files: dict[str, str | Path]):
        unknown = set(files) - {"test", "train"}
        if unknown or not files:
            raise ValueError(f"questions= maps 'test' and/or 'train' to a file; got {sorted(files)}")
        self.files = {split: Path(path) for split, path in files.items()}

    @cached_property
    def rows(self) -> dict[str, list[Question]]:
        return {split: read_question_file(path) for split, path in self.files.items()}

    @property
    def fingerprint(self) -> str:
        return ";".join(f"{split}={_file_stamp(path)}" for split, path in sorted(self.files.items()))

    def question(self, task_id: int) -> Question:
        split, offset = ("test", 0) if task_id < NUM_TEST else ("train", NUM_TEST)
        rows = self.rows.get(split)
        if not rows:
            raise ValueError(f"task {task_id} is a {split} item, but no {split} question file was given")
        return rows[(task_id - offset) % len(rows)]


def _file_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def read_question_file(path: Path) -> list[Question]:
    """Rows of a Search-R1 question file (.parquet, .json or .jsonl)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        records = pq.read_table(path).to_pylist()
    elif path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    elif path.suffix == ".json":
        records = json.loads(path.read_text(encoding="utf-8"))
    else:
        raise ValueError(f"{path}: a question file is .parquet, .json or .jsonl")
    questions = []
    for number, record in enumerate(records):
        answers = _gold_answers(record)
        if not isinstance(record.get("question"), str) or not answers:
            raise ValueError(f"{path} row {number}: needs a 'question' and gold answers")
        questions.append(Question(record["question"], answers, str(record.get("data_source") or "unknown")))
    if not questions:
        raise ValueError(f"{path} holds no questions")
    return questions


def _gold_answers(record: dict) -> tuple[str, ...]:
    ground_truth = (record.get("reward_model") or {}).get("ground_truth") or {}
    target = ground_truth.get("target") if isinstance(ground_truth, dict) else None
    if target is None:
        target = record.get("golden_answers")
    if isinstance(target, str):
        target = [target]
    return tuple(str(answer) for answer in (target or ()) if answer is not None)
