"""How a SearchQA reply is read and scored, as AgentGym's ``agentenv-searchqa`` does.

* The action is the first ``<search>...</search>`` or ``<answer>...</answer>`` pair anywhere in
  the reply (so a raw Search-R1 reply with its ``<think>`` works, and so does ReAct's action line).
* An answer is scored by exact match (``reward_score/qa_em.py``): the text of the reply's LAST
  ``<answer>`` pair, SQuAD-normalised (lower case, no punctuation, no articles, single spaces),
  equal to one normalised gold answer. AgentGym also computes a format score
  (``qa_em_format.py``), but with its default weights, all zero, which is what its server passes:
  a wrong answer scores 0 whatever its format, so the reward is the exact match.
* One addition: accents are folded to ASCII on both sides (observations here are ASCII, so an
  agent that read "Beyonce" must match a gold "Beyoncé").

Replies AgentGym cannot read get its own "Your previous action is invalid" text; the cases it
lumps together are told apart here (an unclosed or nested tag, an empty or runaway query).
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass

MAX_QUERY_CHARS = 300  # a query longer than this is a runaway (a pasted passage, a loop)
INVALID = (
    "Your previous action is invalid. If you want to search, you should put the query between <search> "
    "and </search>. If you want to give the final answer, you should put the answer between <answer> and "
    "</answer>. Please try again."
)
_ACTION = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_ANY_TAG = re.compile(r"</?(?:search|answer)>")
_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def fold_to_ascii(text: str) -> str:
    """Accents off, other non-ASCII characters kept (the observation's space turns them to '?')."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation, as AgentGym's qa_em.py applies it, after folding accents."""
    text = "".join(ch for ch in fold_to_ascii(text).lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold_answers) -> bool:
    if isinstance(gold_answers, str):
        gold_answers = [gold_answers]
    predicted = normalize_answer(prediction)
    return any(normalize_answer(gold) == predicted for gold in gold_answers)


def final_answer(reply: str) -> str | None:
    """The text of the reply's last ``<answer>`` pair, stripped (qa_em.py's extract_solution)."""
    found = _ANSWER.findall(reply)
    return found[-1].strip() if found else None


@dataclass(frozen=True)
class Action:
    """What a reply asks for: ``search`` (``text`` is the query), ``answer`` (``text`` is the final
    answer), or ``invalid`` (``text`` is the observation that says why)."""

    kind: str
    text: str


def read_action(reply: str) -> Action:
    match = _ACTION.search(reply)
    if match is None:
        return Action("invalid", _why_no_action(reply))
    kind, content = match.group(1), match.group(2).strip()
    if _ANY_TAG.search(content):
        return Action("invalid", f"{INVALID} (Tags may not be nested: the <{kind}> pair holds another tag.)")
    if kind == "answer":
        answer = final_answer(reply) or ""
        if not answer:
            return Action("invalid", f"{INVALID} (The answer between <answer> and </answer> is empty.)")
        return Action("answer", answer)
    if not content:
        return Action("invalid", f"{INVALID} (The query between <search> and </search> is empty.)")
    if len(content) > MAX_QUERY_CHARS:
        return Action(
            "invalid",
            f"{INVALID} (The query is {len(content)} characters long; a query is at most "
            f"{MAX_QUERY_CHARS}: a few keywords or one question.)",
        )
    return Action("search", content)


def _why_no_action(reply: str) -> str:
    for tag in ("search", "answer"):
        if f"<{tag}>" in reply and f"</{tag}>" not in reply:
            return f"{INVALID} (The <{tag}> tag is never closed: end it with </{tag}>.)"
        if f"</{tag}>" in reply and f"<{tag}>" not in reply:
            return f"{INVALID} (There is a </{tag}> without its opening <{tag}>.)"
    return INVALID
