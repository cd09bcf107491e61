"""A generated citation and co-authorship graph behind the Academia tools (AgentGym's DBLP nets).

PaperNet: papers (title, authors, year, venue, citation count, keywords, document type) with an
edge from each paper to the papers it cites. AuthorNet: authors (name, organisation, papers)
with an edge between co-authors holding their joint papers. Drawn once from fixed word lists
with a fixed seed, so every install has the same graph; most authors write with colleagues of
their own organisation, as in DBLP.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

from agentgym_envs.envs.tools.base import ToolError

ORGS = (
    "Tsinghua University", "University of Toronto", "ETH Zurich", "University of Oxford", "KAIST",
    "Carnegie Mellon University", "University of Tokyo", "Sorbonne University", "University of Melbourne",
    "Technical University of Munich", "National University of Singapore", "University of Cape Town",
    "Fraunhofer IGD", "Microsoft Research", "Google Research",
)  # fmt: skip
VENUES = (
    ("NeurIPS", "Conference"), ("ICML", "Conference"), ("KDD", "Conference"), ("CVPR", "Conference"),
    ("ACL", "Conference"), ("AAAI", "Conference"), ("WWW", "Conference"), ("IEEE TPAMI", "Journal"),
    ("JMLR", "Journal"), ("Pattern Recognition", "Journal"), ("Neurocomputing", "Journal"),
    ("IEEE Access", "Journal"),
)  # fmt: skip
FIRST = (
    "Amir", "Beatriz", "Chen", "Dmitri", "Eun-ji", "Fatima", "Gustav", "Hiro", "Ingrid", "Jae", "Kofi",
    "Lucia",
    "Mehmet", "Nadia", "Olu", "Pavel", "Qing", "Rania", "Stefan", "Tariq", "Uma", "Viktor", "Wen", "Ximena",
    "Yara", "Zoltan", "Anika", "Bruno", "Chiara", "Dev",
)  # fmt: skip
LAST = (
    "Adeyemi", "Bauer", "Costa", "Dimitrov", "Esposito", "Fujita", "Gupta", "Horvath", "Ivanova", "Jovanovic",
    "Kim", "Lindqvist", "Mensah", "Novak", "Okafor", "Park", "Quispe", "Rahman", "Schulz", "Takahashi",
)  # fmt: skip
ADJECTIVES = (
    "Efficient",
    "Robust",
    "Scalable",
    "Adaptive",
    "Interpretable",
    "Federated",
    "Sparse",
    "Contrastive",
    "Hierarchical",
    "Lightweight",
)
METHODS = (
    "Graph Convolution",
    "Attention Networks",
    "Diffusion Models",
    "Transformers",
    "Clustering",
    "Active Learning",
    "Knowledge Distillation",
    "Metric Learning",
    "Reinforcement Learning",
    "Variational Inference",
)
TASKS = (
    "Node Classification",
    "Face Recognition",
    "Traffic Forecasting",
    "Entity Linking",
    "Anomaly Detection",
    "Drug Discovery",
    "Speech Enhancement",
    "Recommendation",
    "Question Answering",
    "Image Segmentation",
    "Time Series Imputation",
    "Multi-Agent Systems",
)
KEYWORDS = (
    "deep learning",
    "graph neural network",
    "optimization",
    "privacy",
    "benchmark",
    "self-supervision",
    "robustness",
    "efficiency",
    "explainability",
    "computer vision",
    "natural language processing",
    "time series",
)


@dataclass
class Paper:
    title: str
    authors: list[str]
    year: int
    venue: str
    n_citation: int
    keywords: list[str]
    doc_type: str
    references: list[str] = field(default_factory=list)

    def attributes(self) -> dict:
        return {
            "authors": list(self.authors), "year": self.year, "venue": self.venue,
            "n_citation": self.n_citation, "keywords": list(self.keywords), "doc_type": self.doc_type,
        }  # fmt: skip


@dataclass
class Author:
    name: str
    org: str
    papers: list[str] = field(default_factory=list)


@dataclass
class AcademiaGraph:
    papers: dict[str, Paper]
    authors: dict[str, Author]
    coauthored: dict[frozenset, list[str]]  # {a, b} -> their joint papers

    def collaborators(self, name: str) -> list[str]:
        return sorted({other for pair in self.pairs_of(name) for other in pair if other != name})

    def pairs_of(self, name: str) -> list[frozenset]:
        return [pair for pair in self._by_author.get(name, ())]

    def __post_init__(self):
        self._by_author: dict[str, list[frozenset]] = {}
        for pair in self.coauthored:
            for name in pair:
                self._by_author.setdefault(name, []).append(pair)


@lru_cache(maxsize=1)
def graph() -> AcademiaGraph:
    rng = random.Random(0xAC4DE)
    names = [f"{first} {last}" for first in FIRST for last in LAST]
    rng.shuffle(names)
    authors = {name: Author(name, ORGS[i % len(ORGS)]) for i, name in enumerate(names[:300])}
    by_org: dict[str, list[str]] = {}
    for author in authors.values():
        by_org.setdefault(author.org, []).append(author.name)
    titles: list[str] = []
    papers: dict[str, Paper] = {}
    while len(papers) < 420:
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(METHODS)} for {rng.choice(TASKS)}"
        if title in papers:
            continue
        org = rng.choice(ORGS)
        team = rng.sample(by_org[org], rng.randint(1, 3))
        team += [n for n in rng.sample(names[:300], rng.randint(0, 2)) if n not in team]
        venue, doc_type = rng.choice(VENUES)
        year = rng.randint(2012, 2023)
        earlier = [t for t in titles if papers[t].year < year]
        paper = Paper(
            title,
            team,
            year,
            venue,
            int(rng.paretovariate(1.3) * 4) - 4 + rng.randint(0, 6),
            rng.sample(KEYWORDS, rng.randint(2, 4)),
            doc_type,
        )
        paper.references = rng.sample(earlier, min(len(earlier), rng.randint(0, 6)))
        papers[title] = paper
        titles.append(title)
        for name in team:
            authors[name].papers.append(title)
    coauthored: dict[frozenset, list[str]] = {}
    for paper in papers.values():
        for i, a in enumerate(paper.authors):
            for b in paper.authors[i + 1 :]:
                coauthored.setdefault(frozenset((a, b)), []).append(paper.title)
    return AcademiaGraph(papers, authors, coauthored)


class AcademiaToolkit:
    """AgentGym's academia tools: each net must be loaded before it is read."""

    def __init__(self, graph: AcademiaGraph):
        self.graph = graph
        self.paper_net = self.author_net = False

    def loadPaperNet(self) -> str:
        self.paper_net = True
        return "PaperNet is loaded."

    def loadAuthorNet(self) -> str:
        self.author_net = True
        return "AuthorNet is loaded."

    def _paper(self, node: str) -> Paper:
        if not self.paper_net:
            raise ToolError("Please load the PaperNet first.")
        paper = self.graph.papers.get(node)
        if paper is None:
            raise ToolError(f"There is no node named {node} in the PaperNet.")
        return paper

    def _author(self, node: str) -> Author:
        if not self.author_net:
            raise ToolError("Please load the AuthorNet first.")
        author = self.graph.authors.get(node)
        if author is None:
            raise ToolError(f"There is no node named {node} in the AuthorNet.")
        return author

    def neighbourCheck(self, graph: str, node: str) -> list[str]:
        if graph == "PaperNet":
            return list(self._paper(node).references)
        if graph == "AuthorNet":
            return self.graph.collaborators(self._author(node).name)
        raise ToolError(f"{graph!r} is not a graph here: choose 'PaperNet' or 'AuthorNet'.")

    def paperNodeCheck(self, node: str) -> dict:
        return self._paper(node).attributes()

    def authorNodeCheck(self, node: str) -> dict:
        author = self._author(node)
        return {"name": author.name, "org": author.org, "papers": list(author.papers)}

    def authorEdgeCheck(self, node1: str, node2: str) -> dict:
        self._author(node1), self._author(node2)
        papers = self.graph.coauthored.get(frozenset((node1, node2)))
        if papers is None or node1 == node2:
            raise ToolError(f"There is no edge between {node1} and {node2}.")
        return {"collaborative_papers": list(papers)}

    def paperEdgeCheck(self, node1: str, node2: str) -> dict:
        first, second = self._paper(node1), self._paper(node2)
        if second.title not in first.references:
            raise ToolError(f"There is no edge between {node1} and {node2}.")
        return {}
