"""BIRD-SQL (AgentGym's SQLGym, item ids ``sqlgym_<n>``): answer a question about an SQLite
database with one SQL query; reward 1 when the query's result rows, as a set, equal the gold
query's (execution match, as BIRD and sqlgym score it).

The observation is sqlgym's: the schema in sentences (``<db> contains tables such as ...``),
a blank line, the question. Where this differs from AgentGym/BIRD, on purpose:

* BIRD's databases cannot be downloaded here, so by default the questions are about generated
  databases (five domains: retail, university, hospital, library, flights; 45 databases of a
  few thousand rows) with template questions whose gold SQL covers filters, joins, grouping,
  ordering, aggregates, nested queries and NULLs. Test questions use their own databases.
  Given ``bird_dir`` (BIRD's folder), the env plays BIRD's own questions with AgentGym's ids.
* sqlgym runs the model's text on a writable connection with no limits. Here it runs under
  :mod:`.safe_sql` (read-only, an authorizer, time, row and memory limits, one statement).
* sqlgym ends the episode on any reply. Here a query that cannot run (syntax error, refused,
  too slow) is explained and the episode goes on, as for bad input in every env; with
  AgentGym's one round (``gym.make``), the round limit ends it anyway.
* Like sqlgym, BIRD's evidence hint is not shown; the expert's thought quotes it.
* The schema text fixes two sqlgym slips (see :mod:`.schema`).
* AgentGym's client keeps the text after the last ```sql fence; so do we, and a bare query works.
  The project's ReAct parser reads one line after ``Action:``, so the query goes on that line.
"""

from agentgym_envs.envs.bird.env import BirdEnv, extract_query

__all__ = ["BirdEnv", "extract_query"]
