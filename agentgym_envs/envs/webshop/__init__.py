"""WebShop (Yao et al. 2022; AgentGym item ids ``webshop_<n>``), in process and offline.

The agent reads a shopping instruction ("i need a deodorant stick with aluminum free and
sensitive skin, with scent: lavender, and price lower than 20.00 dollars"), searches a shop,
opens products, picks options and buys; the reward is WebShop's (:mod:`.reward`). Pages, clicks
and texts are WebShop's text mode (:mod:`.pages`).

AgentGym serves WebShop from a Python 3.8 conda env with Java 11, pyserini/Lucene, spaCy's large
model and WebShop's 1,000-product file over HTTP. Here:

* :mod:`.vocabulary`, :mod:`.catalogue`: the products, generated from a seed in WebShop's product
  schema (five categories, 40 product types; 1,000 by default, any number up to millions), or read
  from WebShop's own ``items_shuffle*.json`` + ``items_ins_v2*.json`` (``products=``,
  ``attributes=``), which are not distributed with this project;
* :mod:`.goals`: WebShop's synthetic goal rule; on WebShop's files in AgentGym's order, so
  ``webshop_<n>`` names AgentGym's goal n;
* :mod:`.search`: BM25 (tantivy) over titles, attributes, features and descriptions, 50 hits,
  10 a page, the index cached on disk per catalogue and shared within a process;
* :mod:`.reward`: WebShop's reward; the deviation: title nouns come from the catalogue's own
  product words, not spaCy's tagger (``en_core_web_lg`` cannot be installed here);
* :mod:`.expert`: a scripted shopper that reads only the pages;
* :mod:`.env`: :class:`WebShopEnv`.

Deviations from WebShop beyond the nouns: the default products are generated, not scraped (no
product images, reviews written from a few stock lines); an invalid action is explained and the
page shown again (WebShop silently does nothing); the done page shows the score but not the
hidden target.
"""

from agentgym_envs.envs.webshop.env import WebShopEnv

__all__ = ["WebShopEnv"]
