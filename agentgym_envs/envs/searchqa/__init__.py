"""SearchQA (AgentGym's ``agentenv-searchqa``, item ids ``searchqa_<n>``), offline.

The agent answers a question by searching: ``<search> query </search>`` returns the top 3
passages as ``<information>Doc 1(Title: "T") text ...</information>``, ``<answer> text </answer>``
is scored by exact match against the gold answers after SQuAD's normalisation; a wrong answer may
be corrected, the right one ends the episode. That is AgentGym's env (the Deep Search task of
AgentGym-RL, in Search-R1's format), whose corpus (wiki-18, 21M passages), e5 model and question
files come from the model and dataset hubs. Here:

* :mod:`.world`: the default corpus, a generated encyclopedia of fictional people, places,
  organisations and works with consistent facts, in wiki-18's passage format, scaling from a few
  hundred passages to millions;
* :mod:`.questions`: questions of each of AgentGym's data sources' kinds (single-hop as NQ,
  TriviaQA and PopQA; bridge and comparison as HotpotQA and 2WikiMultihopQA; three-hop as MuSiQue;
  two-hop as Bamboogle) under AgentGym's item ids, test and train asked about disjoint halves of
  the world; or Search-R1's question files;
* :mod:`.corpus`, :mod:`.retrieval`: the generated corpus or a Search-R1 corpus file, searched
  with BM25 (tantivy, shared with WebShop) by default, or with a local e5 model and faiss;
* :mod:`.scoring`: AgentGym's reading of a reply and its exact-match reward;
* :mod:`.expert`: a scripted searcher that answers only from what its searches return;
* :mod:`.env`: :class:`SearchQAEnv`.
"""

from agentgym_envs.registration import engine_imports

with engine_imports("SearchQA"):
    from agentgym_envs.envs.searchqa.env import SearchQAEnv

__all__ = ["SearchQAEnv"]
