"""``AgentGym/SearchQA-v0``: answer a question by searching a passage corpus, as AgentGym's
``agentenv-searchqa`` (the Deep Search task of AgentGym-RL, in Search-R1's format)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from agentgym_envs.core import Outcome, TextEnv
from agentgym_envs.envs.searchqa.corpus import GeneratedCorpus, JsonlCorpus, cache_root, show_passages
from agentgym_envs.envs.searchqa.expert import Expert
from agentgym_envs.envs.searchqa.questions import FileQuestions, Question, QuestionWriter
from agentgym_envs.envs.searchqa.retrieval import BM25Retriever, DenseRetriever
from agentgym_envs.envs.searchqa.scoring import exact_match, fold_to_ascii, read_action
from agentgym_envs.envs.searchqa.world import World
from agentgym_envs.toolcalls import ToolParam, ToolSpec

DEFAULT_NUM_PASSAGES = 10_000
TOP_K = 3  # AgentGym's server shows the top 3 passages
# AgentGym's first observation (its server's /observation), then the question.
PROMPT = (
    "You must reason inside <think>...</think> first. If you do not have enough knowledge, issue a "
    "<search>...</search> and then STOP. Do not generate <information> or <answer> yet. Wait for external "
    "input wrapped in <information>...</information>. After receiving information, reason again in <think>. "
    "If confident, output your final answer in <answer>...</answer>. Do not output <answer> before receiving "
    "<information> unless you are fully confident. If you find no further external knowledge needed, you can "
    "directly provide the answer inside <answer> and </answer>, without detailed illustrations. For example, "
    "<answer> Beijing </answer>. Follow this process every time.\n\n Question: "
)
CORRECT = "Congratulations! You have answered the question correctly."
WRONG = "Sorry, your answer is incorrect. Please try again."
RETRIEVERS = ("bm25", "e5", "dense")


@lru_cache(maxsize=4)
def generated_world(num_passages: int, seed: int) -> World:
    return World(num_passages, seed)


class Library:
    """A corpus, its retriever and the questions asked over it; one per process for each set of
    arguments, shared by every env that asks for it."""

    def __init__(self, corpus, retriever, questions, top_k: int):
        self.corpus, self.retriever, self.questions, self.top_k = corpus, retriever, questions, top_k

    def search(self, query: str) -> list[str]:
        return [self.corpus.contents(p) for p in self.retriever.search(query, self.top_k)]

    def question(self, task_id: int) -> Question:
        return self.questions.question(task_id)


_LIBRARIES: dict[tuple, Library] = {}


def open_library(
    num_passages, seed, corpus, questions, retriever, retriever_model, faiss_index, index_dir, top_k
) -> Library:
    if retriever not in RETRIEVERS:
        raise ValueError(f"retriever is one of {', '.join(RETRIEVERS)}; got {retriever!r}")
    if retriever != "bm25" and retriever_model is None:
        raise ValueError(f"retriever={retriever!r} needs retriever_model=, a local model folder (e5-base-v2)")
    if (corpus is None) != (questions is None):
        raise ValueError(
            "give corpus= and questions= together (a corpus and the questions asked over it), or neither"
        )
    if corpus is not None and num_passages is not None:
        raise ValueError("num_passages= sizes the generated encyclopedia; it does not apply to corpus=")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k is a positive int, got {top_k!r}")
    # The cache folder is part of the key: an env made after $AGENTGYM_CACHE changed gets its own.
    files = None if questions is None else tuple(sorted((split, str(f)) for split, f in questions.items()))
    key = (num_passages, seed, str(corpus), files, retriever, str(retriever_model), str(faiss_index))
    key += (str(index_dir), top_k, str(cache_root()))
    library = _LIBRARIES.get(key)
    if library is None:
        if corpus is None:
            world = generated_world(num_passages or DEFAULT_NUM_PASSAGES, seed)
            passages, asked = GeneratedCorpus(world), QuestionWriter(world, seed)
        else:
            passages, asked = JsonlCorpus(corpus), FileQuestions(questions)
        if retriever == "bm25":
            search = BM25Retriever(passages, index_dir)
        else:
            search = DenseRetriever(passages, retriever_model, faiss_index)
        library = _LIBRARIES[key] = Library(passages, search, asked, top_k)
    return library


class SearchQAEnv(TextEnv):
    """Answer a question by searching an encyclopedia: ``<search> query </search>`` shows the top
    passages, ``<answer> text </answer>`` ends the episode when it matches a gold answer.

    Beyond ``split`` and ``render_mode`` (:class:`~agentgym_envs.core.TextEnv`'s):

    Args:
        num_passages: size of the generated encyclopedia (default 10,000; up to millions).
        seed: which generated encyclopedia (and questions).
        corpus: a Search-R1 corpus file (JSON lines ``{"id", "contents"}``, e.g. wiki-18.jsonl),
            given with ``questions``: ``{"test": "test.parquet", "train": "train.parquet"}``
            (Search-R1's question files; AgentGym's item ids index them).
        retriever: ``"bm25"`` (default), or ``"e5"`` with ``retriever_model`` (a local
            sentence-transformers folder) and optionally ``faiss_index`` (a prebuilt index of
            the corpus, e.g. Search-R1's e5_Flat.index); needs the ``searchqa-dense`` extra.
        index_dir: where the BM25 index lives (default ``$AGENTGYM_CACHE/searchqa/...``).
        top_k: passages a search shows (AgentGym: 3).
    """

    action_help = (
        "Actions: <search> query </search> searches the encyclopedia and shows the top passages between "
        "<information> and </information>; <answer> text </answer> gives your final answer (a short name, "
        "year, number, or yes/no). A wrong answer can be corrected; the right one ends the episode."
    )
    max_action_length = 8192  # a raw reply with its <think> reasoning is the action

    def __init__(
        self,
        split: str = "train",
        render_mode: str | None = None,
        *,
        num_passages: int | None = None,
        seed: int = 0,
        corpus: str | Path | None = None,
        questions: dict[str, str | Path] | None = None,
        retriever: str = "bm25",
        retriever_model: str | Path | None = None,
        faiss_index: str | Path | None = None,
        index_dir: str | Path | None = None,
        top_k: int = TOP_K,
    ):
        super().__init__(split=split, render_mode=render_mode)
        if questions is not None and not isinstance(questions, dict):
            raise ValueError('questions= is a dict: {"test": "test.parquet", "train": "train.parquet"}')
        self.library = open_library(
            num_passages, seed, corpus, questions, retriever, retriever_model, faiss_index, index_dir, top_k
        )
        self.question: Question | None = None
        self.searches: list[tuple[str, list[str]]] = []  # (query, passages shown), for the expert

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        query = ToolParam("query", "string", "what to search for: a few keywords or a question")
        text = ToolParam("text", "string", "the answer, as short as possible (a name, a year, yes or no)")
        search = ToolSpec(
            "search",
            "Search the encyclopedia; the top passages come back.",
            (query,),
            "<search> {query} </search>",
        )
        answer = ToolSpec(
            "answer",
            "Give the final answer; a wrong one can be corrected.",
            (text,),
            "<answer> {text} </answer>",
        )
        return search, answer

    def task_description(self) -> str:
        return (
            "Answer a question with the help of a search engine over an encyclopedia. Work out what you "
            "need to know, search for it, read the passages that come back, search again for each further "
            "fact you need, and give a short final answer."
        )

    def _start_task(self, task_id: int) -> str:
        self.question = self.library.question(task_id)
        self.searches = []
        return PROMPT + fold_to_ascii(self.question.text.strip())

    def subtask(self) -> str | None:
        return self.question.data_source

    def _apply(self, action: str) -> Outcome:
        read = read_action(action)
        if read.kind == "invalid":
            return Outcome(read.text, self.score)
        if read.kind == "search":
            passages = [fold_to_ascii(contents) for contents in self.library.search(read.text)]
            self.searches.append((read.text, passages))
            return Outcome(show_passages(passages), self.score)
        if exact_match(read.text, self.question.answers):
            return Outcome(CORRECT, 1.0, done=True)
        return Outcome(WRONG, self.score)

    def expert(self) -> tuple[str, str]:
        return Expert(self.question).next_action(self.searches)
