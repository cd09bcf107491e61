"""Movie (AgentGym's ``movie`` tool env, item ids ``movie_<n>``): answer questions about films.

The agent searches films and people and reads details, companies, countries, cast, crew,
keywords, alternative titles, translations, biographies and external ids through AgentGym's 14
TMDB tools, and ends with ``finish(answer)``. Replies keep the shapes AgentGym's tools make of
TMDB's (a search gives ``[{'id', 'overview', 'title'}]``, cast ``{'cast': [{'id', 'name',
'character'}, ...]}`` up to 10, ...).

Where it differs from AgentGym:

- The films and people are a generated database (:mod:`.movie_backend`), not TMDB's live API.
- So AgentGym's 238 Movie tasks cannot be replayed: they ask about real films and their answers
  are TMDB's data. Each task id is a generated question in their styles (where was the director
  born, same director, which is rated higher, did it make a profit, common genre, release date,
  who played a character, companies, countries, a keyword, the birthday of an actor, a
  director's highest-grossing film, an IMDb id, an alternative title), answered from the same
  database.
- Answers match ignoring case and quotes, lists as sets (AgentGym: exact, lists sorted).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agentgym_envs.envs.tools.base import (
    CHECK_VALID_ACTIONS,
    FINISH_WITH_ANSWER,
    AnswerToolEnv,
    Param,
    Planner,
    PlanStep,
    Tool,
)
from agentgym_envs.envs.tools.movie_backend import Movie, MovieToolkit, database

_MOVIE = (Param("movie_id", "string", "the film's id (from get_search_movie)"),)
_PERSON = (Param("person_id", "string", "the person's id (from get_search_person)"),)
TOOLS = (
    Tool(
        "get_search_movie",
        "Searches a film by title.",
        (Param("movie_name", "string", "the title to look for"),),
        "the best match: id, overview, title.",
    ),
    Tool(
        "get_movie_details",
        "Reads a film's main facts.",
        _MOVIE,
        "title, budget, genres, revenue, vote_average, release_date.",
    ),
    Tool(
        "get_movie_production_companies",
        "Lists the companies that made a film.",
        _MOVIE,
        "production_companies.",
    ),
    Tool(
        "get_movie_production_countries",
        "Lists the countries a film was made in.",
        _MOVIE,
        "production_countries.",
    ),
    Tool("get_movie_cast", "Lists a film's first 10 cast members.", _MOVIE, "cast: id, name, character."),
    Tool(
        "get_movie_crew",
        "Lists up to 10 crew members, directors, producers and writers first.",
        _MOVIE,
        "crew: id, name, job.",
    ),
    Tool("get_movie_keywords", "Lists a film's keywords.", _MOVIE, "keywords."),
    Tool(
        "get_search_person",
        "Searches a person by name.",
        (Param("person_name", "string", "the name to look for"),),
        "the best match: id, name.",
    ),
    Tool(
        "get_person_details",
        "Reads a person's biography, birthday and place of birth.",
        _PERSON,
        "name, biography, birthday, place_of_birth.",
    ),
    Tool(
        "get_person_cast",
        "Lists up to 10 of a person's acting roles, newest first.",
        _PERSON,
        "cast: id, title, character.",
    ),
    Tool(
        "get_person_crew",
        "Lists up to 10 of a person's crew jobs, newest first.",
        _PERSON,
        "crew: id, title, job.",
    ),
    Tool(
        "get_person_external_ids",
        "Reads a person's ids on other sites.",
        _PERSON,
        "imdb_id, facebook_id, instagram_id, twitter_id.",
    ),
    Tool("get_movie_alternative_titles", "Lists a film's titles in other countries.", _MOVIE, "id, titles."),
    Tool(
        "get_movie_translation",
        "Lists a film's translations (Dutch, Chinese, English, German, Russian, Japanese).",
        _MOVIE,
        "id, translations.",
    ),
    CHECK_VALID_ACTIONS,
    FINISH_WITH_ANSWER,
)


@dataclass(frozen=True)
class MovieTaskSpec:
    goal: str
    answer: Any


class MovieEnv(AnswerToolEnv):
    """Film questions answered with AgentGym's TMDB tools over a generated film database."""

    tools = TOOLS
    system_message = (
        "You can use actions to help people solve problems. You answer questions about films "
        "and the people who make them with the tools below: search for ids first, read what "
        "you need, and end with finish."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        self.toolkit = MovieToolkit(database())  # read-only: one for every episode

    def _question(self, task_id: int) -> tuple[str, Any, tuple[PlanStep, ...]]:
        spec, plan = generated_task(task_id)
        return spec.goal, spec.answer, plan


# ------------------------------------------------------------------------------ generated tasks
class _Planner(Planner):
    def __init__(self):
        super().__init__(MovieToolkit(database()))

    def movie_id(self, movie: Movie) -> int:
        return self.add(f"I need the id of {movie.title}.", "get_search_movie", movie_name=movie.title)[0][
            "id"
        ]

    def director(self, movie: Movie) -> dict:
        crew = self.add(
            f"I read the crew of {movie.title}.", "get_movie_crew", movie_id=str(self.movie_id(movie))
        )["crew"]
        return next(c for c in crew if c["job"] == "Director")

    def details(self, movie: Movie) -> dict:
        return self.add(
            f"I read the details of {movie.title}.", "get_movie_details", movie_id=str(self.movie_id(movie))
        )


def _q_director_birthplace(p, rng, films):
    movie = films[0]
    director = p.director(movie)
    place = p.add(
        f"{director['name']} directed it; I read their details.",
        "get_person_details",
        person_id=str(director["id"]),
    )["place_of_birth"]
    p.finish(place, f"{director['name']} was born in {place}.")
    return f"Where was the director of {movie.title} born? Please answer me with the birthplace as a string."


def _q_same_director(p, rng, films):
    first, second = films[:2]
    a, b = p.director(first), p.director(second)
    answer = "Yes" if a["id"] == b["id"] else "No"
    p.finish(answer, f"{first.title} was directed by {a['name']}, {second.title} by {b['name']}.")
    return (
        f"Is the director of {first.title} the same as the director of {second.title}? Please answer "
        "with Yes or No."
    )


def _q_higher_rating(p, rng, films):
    first, second = films[:2]
    ratings = [p.details(first)["vote_average"], p.details(second)["vote_average"]]
    if ratings[0] == ratings[1]:
        return None
    answer = first.title if ratings[0] > ratings[1] else second.title
    p.finish(answer, f"Ratings: {first.title} {ratings[0]}, {second.title} {ratings[1]}.")
    return (
        f"{first.title} versus {second.title}, which has a higher rating? Please answer me with the "
        "film name as a string."
    )


def _q_profit(p, rng, films):
    details = p.details(films[0])
    answer = "Yes" if details["revenue"] > details["budget"] else "No"
    p.finish(answer, f"Budget {details['budget']}, revenue {details['revenue']}.")
    return f"Did the movie '{films[0].title}' make a profit? Please answer with Yes or No."


def _q_common_genre(p, rng, films):
    first, second = films[:2]
    a = {g["name"] for g in p.details(first)["genres"]}
    b = {g["name"] for g in p.details(second)["genres"]}
    answer = "Yes" if a & b else "No"
    p.finish(answer, f"Genres: {sorted(a)} and {sorted(b)}.")
    return f"Do {first.title} and {second.title} share a common genre? Please answer with Yes or No."


def _q_release_date(p, rng, films):
    date = p.details(films[0])["release_date"]
    p.finish(date, f"It was released on {date}.")
    return f"When was {films[0].title} released? Please provide the date in the format YYYY-MM-DD."


def _q_who_played(p, rng, films):
    movie = films[0]
    credit = rng.choice(movie.cast[:10])
    cast = p.add("I read the cast.", "get_movie_cast", movie_id=str(p.movie_id(movie)))["cast"]
    if sum(c["character"] == credit["character"] for c in cast) > 1:
        return None
    p.finish(credit["name"], f"{credit['name']} played {credit['character']}.")
    return (
        f"Who played {credit['character']} in {movie.title}? Please answer me with the actor's name "
        "as a string."
    )


def _names_of(p: _Planner, movie: Movie, what: str) -> list[str]:
    """The names in a film's production companies or countries."""
    reply = p.add(
        f"I read its production {what}.", f"get_movie_production_{what}", movie_id=str(p.movie_id(movie))
    )
    return [entry["name"] for entry in reply[f"production_{what}"]]


def _q_companies(p, rng, films):
    names = _names_of(p, films[0], "companies")
    p.finish(names, "These companies made it.")
    return (
        f"Which companies produced {films[0].title}? Please answer in the form of a list ['company1', "
        "'company2', ...]."
    )


def _q_countries(p, rng, films):
    names = _names_of(p, films[0], "countries")
    p.finish(names, "It was made in these countries.")
    return (
        f"In which countries was {films[0].title} produced? Please answer in the form of a list "
        "['country1', ...]."
    )


def _q_keyword(p, rng, films):
    movie = films[0]
    word = rng.choice(sorted({w for m in films for w in m.keywords}))
    words = p.add("I read its keywords.", "get_movie_keywords", movie_id=str(p.movie_id(movie)))["keywords"]
    answer = "Yes" if word in words else "No"
    p.finish(answer, f"Its keywords are {words}.")
    return f"Is '{word}' one of the keywords of {movie.title}? Please answer with Yes or No."


def _q_actor_birthday(p, rng, films):
    movie = films[0]
    credit = rng.choice(movie.cast[:10])
    cast = p.add("I read the cast.", "get_movie_cast", movie_id=str(p.movie_id(movie)))["cast"]
    if sum(c["character"] == credit["character"] for c in cast) > 1:
        return None
    birthday = p.add(
        f"{credit['name']} played {credit['character']}; I read their details.",
        "get_person_details",
        person_id=str(credit["id"]),
    )["birthday"]
    p.finish(birthday, f"{credit['name']} was born on {birthday}.")
    return (
        f"What is the birthday of the actor who played {credit['character']} in {movie.title}? Please "
        "provide the date in the format YYYY-MM-DD."
    )


def _q_top_grossing(p, rng, films):
    db = database()
    director = db.person(next(c["id"] for c in films[0].crew if c["job"] == "Director"))
    directed = [c for c in director.crew[:10] if c["job"] == "Director"]
    if not 2 <= len(directed) <= 6:
        return None
    found = p.add(f"I need the id of {director.name}.", "get_search_person", person_name=director.name)[0]
    p.add(f"I list the films {director.name} worked on.", "get_person_crew", person_id=str(found["id"]))
    revenues = {
        c["title"]: p.add(f"I read the revenue of {c['title']}.", "get_movie_details", movie_id=str(c["id"]))[
            "revenue"
        ]
        for c in directed
    }
    best = max(revenues, key=revenues.get)
    if sorted(revenues.values())[-1] == sorted(revenues.values())[-2]:
        return None
    p.finish(best, f"{best} earned the most ({revenues[best]}).")
    return (
        f"Among the movies directed by {director.name}, which one has the highest revenue? Please "
        "answer me with the film name as a string."
    )


def _q_imdb(p, rng, films):
    db = database()
    person = db.person(rng.choice(films[0].cast)["id"])
    found = p.add(f"I need the id of {person.name}.", "get_search_person", person_name=person.name)[0]
    imdb = p.add("I read the external ids.", "get_person_external_ids", person_id=str(found["id"]))["imdb_id"]
    p.finish(imdb, f"The IMDb id is {imdb}.")
    return f"What is the IMDb id of {person.name}? Please answer with the id as a string."


def _q_alternative_title(p, rng, films):
    movie = films[0]
    if not movie.alternative_titles:
        return None
    item = rng.choice(movie.alternative_titles)
    titles = p.add(
        "I read its alternative titles.", "get_movie_alternative_titles", movie_id=str(p.movie_id(movie))
    )["titles"]
    p.finish(item["title"], f"The {item['iso_3166_1']} title is {item['title']}.")
    assert item in titles
    return (
        f"What is the alternative title of {movie.title} in the country with code "
        f"{item['iso_3166_1']}? Please answer with the title as a string."
    )


QUESTIONS = (
    _q_director_birthplace, _q_same_director, _q_higher_rating, _q_profit, _q_common_genre, _q_release_date,
    _q_who_played, _q_companies, _q_countries, _q_keyword, _q_actor_birthday, _q_top_grossing, _q_imdb,
    _q_alternative_title,
)  # fmt: skip


@lru_cache(maxsize=1024)
def generated_task(task_id: int) -> tuple[MovieTaskSpec, tuple[PlanStep, ...]]:
    """Task ``task_id``: a question about one or two films of the database."""
    rng = random.Random(0x30F1E * 1_000_003 + task_id)
    films = list(database().movies.values())
    while True:
        chosen = rng.sample(films, 2)
        planner = _Planner()
        goal = QUESTIONS[rng.randrange(len(QUESTIONS))](planner, rng, chosen)
        if goal is not None:
            return MovieTaskSpec(goal, planner.answer), tuple(planner.steps)
