"""SearchQA's expert: it answers only from what its searches returned.

It reads the question into a plan (:func:`.questions.parse_question`: the named entities and the
facts to follow), then for each fact searches for the entity with a few words the encyclopedia
uses for that fact, finds the entity's own passage among the results (by its title) and reads the
fact from the sentence that states it (the sentence shapes of :data:`.world.SENTENCES`). The
value read becomes the next search's entity. When every fact is read it answers; a comparison
compares the two values it read. If a search does not bring up the passage it needs, it searches
again with other words; after that it gives up and answers what it has.

For questions from a user's file (real NQ or HotpotQA), which no script can read, it searches the
question and answers the first gold answer: such episodes show the format, not the reasoning.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agentgym_envs.envs.searchqa.questions import Plan, Question, parse_question
from agentgym_envs.envs.searchqa.world import GRAMMAR_PATTERNS, PROPER, SENTENCES, VALUE_PATTERNS

# Words the encyclopedia writes next to each fact (what a reader would add to the entity's name).
CUES = {
    "born": "born",
    "birthplace": "born",
    "occupation": "born",
    "father": "son daughter father",
    "alma_mater": "studied graduated",
    "employer": "worked staff",
    "creator": "",
    "year": "",
    "genre": "",
    "org": "issued brought",
    "founded": "founded",
    "founder": "founded",
    "hq": "headquartered headquarters",
    "country": "city",
    "river": "river",
    "population": "population",
    "capital": "capital",
    "currency": "currency",
}
# How the expert's thoughts name what it looks for.
WANTED = {
    "born": "the year {s} was born",
    "birthplace": "where {s} was born",
    "occupation": "what {s} does for a living",
    "father": "who the father of {s} is",
    "alma_mater": "where {s} studied",
    "employer": "whom {s} worked for",
    "creator": "who made {s}",
    "year": "when {s} came out",
    "genre": "the genre of {s}",
    "org": "who issued {s}",
    "founded": "when {s} was founded",
    "founder": "who founded {s}",
    "hq": "where {s} is headquartered",
    "country": "which country {s} is in",
    "river": "which river flows through {s}",
    "population": "the population of {s}",
    "capital": "the capital of {s}",
    "currency": "the currency of {s}",
}
_TITLE = re.compile(r'^"?(.*?)"?$')


@lru_cache(maxsize=None)
def fact_patterns(relation: str) -> tuple[re.Pattern, ...]:
    """Patterns for every sentence shape that states ``relation``; group ``value`` is the fact."""
    patterns = []
    for variants in SENTENCES.values():
        for template in (t for sentence in variants for t in sentence):
            if "{" + relation + "}" not in template:
                continue
            parts = re.split(r"\{(\w+)\}", template)
            regex = ""
            for number, part in enumerate(parts):
                if number % 2 == 0:
                    regex += re.escape(part)
                elif part == relation:
                    regex += f"(?P<value>{VALUE_PATTERNS.get(part, PROPER)})"
                elif part in GRAMMAR_PATTERNS:
                    regex += GRAMMAR_PATTERNS[part]
                elif part in ("name", "works"):
                    regex += r"[^.\n]+?"
                else:
                    regex += f"(?:{VALUE_PATTERNS.get(part, PROPER)})"
            patterns.append(re.compile(r"(?:^|(?<=\. )|(?<=\n))" + regex))
    return tuple(patterns)


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def read_fact(passages, subject: str, relation: str) -> str | None:
    """The fact as the subject's own passage states it, from the passages seen (newest first)."""
    for contents in passages:
        title, _, text = contents.partition("\n")
        if not _same_name(_TITLE.match(title.strip())[1], subject):
            continue
        for pattern in fact_patterns(relation):
            found = pattern.search(contents)
            if found:
                return found["value"]
    return None


class Expert:
    """A scripted searcher for one question; ``next_action`` reads the episode's searches so far
    (a list of ``(query, passages)``) and returns ``(thought, action)``."""

    ATTEMPTS = 2  # searches per fact before giving up on it

    def __init__(self, question: Question):
        self.question = question
        self.plan: Plan | None = parse_question(question.text) if question.kind is not None else None

    def next_action(self, searches: list[tuple[str, list[str]]]) -> tuple[str, str]:
        if self.plan is None:
            return self._from_gold(searches)
        seen = [contents for _, passages in reversed(searches) for contents in passages]
        asked = {query for query, _ in searches}
        notes = []
        values = []
        for anchor in self.plan.anchors:
            subject = anchor
            for relation in self.plan.chain if self.plan.compare is None else self.plan.chain[:1]:
                value = read_fact(seen, subject, relation)
                if value is None:
                    query = self._next_query(subject, relation, asked)
                    if query is None:  # searched enough: answer with what there is
                        return self._answer(
                            notes, values, gave_up=f"I could not find {_wanted(relation, subject)}."
                        )
                    return self._search_thought(notes, relation, subject), f"<search> {query} </search>"
                notes.append(
                    f"{_wanted(relation, subject)[0].upper()}{_wanted(relation, subject)[1:]}: {value}."
                )
                subject = value
            values.append(subject)
        return self._answer(notes, values)

    def _next_query(self, subject: str, relation: str, asked: set[str]) -> str | None:
        queries = list(dict.fromkeys(q.strip() for q in (f"{subject} {CUES[relation]}", subject)))
        for query in queries[: self.ATTEMPTS]:
            if query not in asked:
                return query
        return None

    def _search_thought(self, notes: list[str], relation: str, subject: str) -> str:
        known = " ".join(notes)
        need = (
            f"Next I need {_wanted(relation, subject)}" if notes else f"I need {_wanted(relation, subject)}"
        )
        return f"{known} {need}, so I will search for {subject}.".strip()

    def _answer(self, notes: list[str], values: list[str], gave_up: str = "") -> tuple[str, str]:
        answer = self._conclude(values) if not gave_up else (values[-1] if values else "unknown")
        thought = " ".join([*notes, gave_up, f"So the answer is {answer}."]).strip()
        return thought, f"<answer> {answer} </answer>"

    def _conclude(self, values: list[str]) -> str:
        plan = self.plan
        if plan.compare is None:
            return values[0]
        first, second = values
        if plan.compare == "same":
            return "yes" if _same_name(first, second) else "no"
        number_a, number_b = (int(v.replace(",", "")) for v in (first, second))
        first_wins = number_a < number_b if plan.compare == "earlier" else number_a > number_b
        return plan.anchors[0] if first_wins else plan.anchors[1]

    def _from_gold(self, searches) -> tuple[str, str]:
        if not searches:
            return "I will look the question up.", f"<search> {self.question.text.strip()} </search>"
        answer = self.question.answers[0]
        return f"The passages and what I know point to {answer}.", f"<answer> {answer} </answer>"


def _wanted(relation: str, subject: str) -> str:
    return WANTED[relation].format(s=subject)
