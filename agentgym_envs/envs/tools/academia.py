"""Academia (AgentGym's ``academia`` tool env, item ids ``academia_<n>``): questions over a
citation network and a co-authorship network.

The agent loads PaperNet and AuthorNet, reads nodes (papers: authors, year, venue, citations,
keywords, type; authors: name, organisation, papers) and edges (a citation; the joint papers of
two co-authors) and lists neighbours, through AgentGym's academia tools, and ends with
``finish(answer)``.

Where it differs from AgentGym:

- The networks are generated (:mod:`.academia_backend`), not AgentGym's DBLP pickles (which are
  not public with the task files).
- So AgentGym's Academia tasks cannot be replayed: they name real DBLP authors and papers.
  Each task id is a generated question in their styles (mutual collaborators, an author's most
  cited paper and its co-authors, an author's main venue, citations of joint papers, the most
  frequent collaborator, whether two papers are both conference papers, collaborators from the
  same or another organisation, whether one paper cites another, a paper's year).
- ``authorNodeCheck`` lists an author's papers by title (AgentGym's shows internal ids).
- Answers match ignoring case and quotes, lists as sets (AgentGym: exact, lists sorted).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agentgym_envs.envs.tools.academia_backend import AcademiaToolkit, graph
from agentgym_envs.envs.tools.base import (
    CHECK_VALID_ACTIONS,
    FINISH_WITH_ANSWER,
    AnswerToolEnv,
    Param,
    Planner,
    PlanStep,
    Tool,
)

TOOLS = (
    Tool(
        "loadPaperNet",
        "Loads PaperNet: papers joined by citations. Load it before reading papers.",
        returns="a confirmation.",
    ),
    Tool(
        "loadAuthorNet",
        "Loads AuthorNet: authors joined by co-authorship. Load it before reading authors.",
        returns="a confirmation.",
    ),
    Tool(
        "neighbourCheck",
        "Lists a node's neighbours: the papers a paper cites (PaperNet), or an author's collaborators "
        "(AuthorNet).",
        (
            Param("graph", "string", "'PaperNet' or 'AuthorNet'"),
            Param("node", "string", "a paper title or an author name"),
        ),
        "a list of neighbours.",
    ),
    Tool(
        "paperNodeCheck",
        "Reads a paper's details.",
        (Param("node", "string", "the paper's title"),),
        "authors, year, venue, n_citation, keywords, doc_type.",
    ),
    Tool(
        "authorNodeCheck",
        "Reads an author's details.",
        (Param("node", "string", "the author's name"),),
        "name, org, papers.",
    ),
    Tool(
        "authorEdgeCheck",
        "Reads what joins two co-authors.",
        (Param("node1", "string", "an author"), Param("node2", "string", "another author")),
        "collaborative_papers.",
    ),
    Tool(
        "paperEdgeCheck",
        "Checks the citation from one paper to another.",
        (Param("node1", "string", "the citing paper"), Param("node2", "string", "the cited paper")),
        "the edge's attributes (none here).",
    ),
    CHECK_VALID_ACTIONS,
    FINISH_WITH_ANSWER,
)


@dataclass(frozen=True)
class AcademiaTaskSpec:
    goal: str
    answer: Any


class AcademiaEnv(AnswerToolEnv):
    """Questions over a citation network and a co-authorship network."""

    tools = TOOLS
    system_message = (
        "You can use actions to help people solve problems. You answer questions about papers "
        "and authors with the tools below: load the network you need first, read nodes, edges "
        "and neighbours, and end with finish."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        graph()  # build the networks now (once per process), not in a reset

    def _question(self, task_id: int) -> tuple[str, Any, tuple[PlanStep, ...]]:
        spec, plan = generated_task(task_id)
        self.toolkit = AcademiaToolkit(graph())  # both nets start unloaded
        return spec.goal, spec.answer, plan


# ------------------------------------------------------------------------------ generated tasks
class _Planner(Planner):
    def __init__(self):
        super().__init__(AcademiaToolkit(graph()))

    def load(self, net: str) -> None:
        if not getattr(self.toolkit, "paper_net" if net == "PaperNet" else "author_net"):
            self.add(f"I need {net}, so I load it first.", f"load{net}")


def _unique_max(scores: dict) -> Any:
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    return ranked[0][0] if len(ranked) == 1 or ranked[0][1] != ranked[1][1] else None


def _a_collaborator(rng: random.Random, author: str) -> str | None:
    friends = graph().collaborators(author)
    return rng.choice(friends) if friends else None


def _q_mutual(p, rng, author):
    other = _a_collaborator(rng, author)
    if other is None:
        return None
    p.load("AuthorNet")
    mine = p.add(f"I list the collaborators of {author}.", "neighbourCheck", graph="AuthorNet", node=author)
    theirs = p.add(f"And those of {other}.", "neighbourCheck", graph="AuthorNet", node=other)
    count = len(set(mine) & set(theirs))
    p.finish(count, f"They share {count} collaborators.")
    return (
        f"How many mutual collaborators do {author} and {other} share? Please give me a numerical "
        "value as an answer."
    )


def _papers_with(p, author, field):
    p.load("AuthorNet")
    papers = p.add(f"I read {author}'s papers.", "authorNodeCheck", node=author)["papers"]
    if not 1 <= len(papers) <= 6:
        return None
    p.load("PaperNet")
    return {t: p.add(f"I read the details of '{t}'.", "paperNodeCheck", node=t)[field] for t in papers}


def _q_most_cited(p, rng, author):
    counts = _papers_with(p, author, "n_citation")
    best = counts and _unique_max(counts)
    if not best:
        return None
    p.finish(best, f"'{best}' has the most citations ({counts[best]}).")
    return f"Which paper by {author} has the most citations in the citation network?"


def _q_coauthors_of_top(p, rng, author):
    counts = _papers_with(p, author, "n_citation")
    best = counts and _unique_max(counts)
    if not best:
        return None
    others = [a for a in graph().papers[best].authors if a != author]
    if not others:
        return None
    p.finish(others, f"'{best}' is the most cited; its other authors are {others}.")
    return (
        f"Who are the co-authors with whom {author} wrote the paper that has the most citations? "
        "Please answer in the form of a list ['author1', 'author2', ...]."
    )


def _q_top_venue(p, rng, author):
    venues = _papers_with(p, author, "venue")
    if not venues:
        return None
    best = _unique_max(Counter(venues.values()))
    if not best:
        return None
    p.finish(best, f"Most of these papers appeared in {best}.")
    return f"In which venue has {author} published the most papers?"


def _q_joint_citations(p, rng, author):
    other = _a_collaborator(rng, author)
    if other is None:
        return None
    p.load("AuthorNet")
    joint = p.add(
        f"I read the joint papers of {author} and {other}.", "authorEdgeCheck", node1=author, node2=other
    )["collaborative_papers"]
    if len(joint) > 6:
        return None
    p.load("PaperNet")
    total = sum(
        p.add(f"I read the citations of '{t}'.", "paperNodeCheck", node=t)["n_citation"] for t in joint
    )
    p.finish(total, f"Together they have {total} citations.")
    return (
        f"How many citations do the papers co-authored by {author} and {other} have in total? Please "
        "give me a numerical value as an answer."
    )


def _q_top_collaborator(p, rng, author):
    g = graph()
    friends = g.collaborators(author)
    if not 1 <= len(friends) <= 7:
        return None
    p.load("AuthorNet")
    p.add(f"I list the collaborators of {author}.", "neighbourCheck", graph="AuthorNet", node=author)
    counts = {
        f: len(
            p.add(f"I count the joint papers with {f}.", "authorEdgeCheck", node1=author, node2=f)[
                "collaborative_papers"
            ]
        )
        for f in friends
    }
    best = _unique_max(counts)
    if not best:
        return None
    p.finish(best, f"{best} wrote {counts[best]} papers with {author}.")
    return f"Who has the most collaborations with {author}?"


def _q_both_conference(p, rng, author):
    first, second = rng.sample(sorted(graph().papers), 2)
    p.load("PaperNet")
    types = [
        p.add(f"I read the type of '{t}'.", "paperNodeCheck", node=t)["doc_type"] for t in (first, second)
    ]
    answer = "Yes" if types == ["Conference", "Conference"] else "No"
    p.finish(answer, f"Their types are {types}.")
    return f"Are '{first}' and '{second}' both conference papers? Please answer Yes or No."


def _q_org_collaborators(p, rng, author):
    g = graph()
    friends = g.collaborators(author)
    same = rng.random() < 0.5
    if not 1 <= len(friends) <= 6:
        return None
    p.load("AuthorNet")
    org = p.add(f"I read {author}'s organisation.", "authorNodeCheck", node=author)["org"]
    p.add(f"I list the collaborators of {author}.", "neighbourCheck", graph="AuthorNet", node=author)
    chosen = [
        f
        for f in friends
        if (p.add(f"I read {f}'s organisation.", "authorNodeCheck", node=f)["org"] == org) == same
    ]
    if not chosen:
        return None
    p.finish(chosen, f"These collaborators are from {'the same' if same else 'another'} organisation.")
    kind = "from the same organization as" if same else "from different organizations than"
    return (
        f"Who are the collaborators of {author} {kind} them? Please provide the names in the "
        "following format: ['author1', 'author2', ...]."
    )


def _q_cites(p, rng, author):
    g = graph()
    citing = rng.choice([t for t, paper in g.papers.items() if paper.references])
    cited = rng.choice(g.papers[citing].references) if rng.random() < 0.5 else rng.choice(sorted(g.papers))
    if cited == citing:
        return None
    p.load("PaperNet")
    refs = p.add(f"I list the papers '{citing}' cites.", "neighbourCheck", graph="PaperNet", node=citing)
    answer = "Yes" if cited in refs else "No"
    p.finish(answer, f"'{cited}' is {'' if answer == 'Yes' else 'not '}among them.")
    return f"Does the paper '{citing}' cite '{cited}'? Please answer Yes or No."


def _q_year(p, rng, author):
    title = rng.choice(graph().authors[author].papers or sorted(graph().papers))
    p.load("PaperNet")
    year = p.add(f"I read the details of '{title}'.", "paperNodeCheck", node=title)["year"]
    p.finish(year, f"It was published in {year}.")
    return f"In which year was the paper '{title}' published? Please give me a numerical value as an answer."


QUESTIONS = (
    _q_mutual, _q_most_cited, _q_coauthors_of_top, _q_top_venue, _q_joint_citations, _q_top_collaborator,
    _q_both_conference, _q_org_collaborators, _q_cites, _q_year,
)  # fmt: skip


@lru_cache(maxsize=256)
def generated_task(task_id: int) -> tuple[AcademiaTaskSpec, tuple[PlanStep, ...]]:
    rng = random.Random(0xACADE * 1_000_003 + task_id)
    names = sorted(graph().authors)
    while True:
        planner = _Planner()
        goal = QUESTIONS[rng.randrange(len(QUESTIONS))](planner, rng, rng.choice(names))
        if goal is not None and len(planner.steps) <= 11:
            return AcademiaTaskSpec(goal, planner.answer), tuple(planner.steps)
