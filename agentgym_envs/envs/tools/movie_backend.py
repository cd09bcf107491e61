"""A generated film database behind the Movie tools, in TMDB's shapes as AgentGym trims them.

Films (title, overview, release date, genres, budget, revenue, rating, companies, countries,
keywords, alternative titles, translations, cast and crew) and people (name, birthday, place of
birth, biography, external ids) are drawn once from fixed word lists with a fixed seed, so every
install has the same database. Ids are TMDB-like integers, shown as numbers and accepted as text.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from functools import lru_cache

from agentgym_envs.envs.tools.base import ToolError

GENRES = (
    (28, "Action"), (12, "Adventure"), (16, "Animation"), (35, "Comedy"), (80, "Crime"), (99, "Documentary"),
    (18, "Drama"), (10751, "Family"), (14, "Fantasy"), (36, "History"), (27, "Horror"), (10402, "Music"),
    (9648, "Mystery"), (10749, "Romance"), (878, "Science Fiction"), (53, "Thriller"), (10752, "War"),
    (37, "Western"),
)  # fmt: skip
COUNTRIES = (
    ("US", "United States of America"), ("GB", "United Kingdom"), ("FR", "France"), ("DE", "Germany"),
    ("JP", "Japan"), ("CA", "Canada"), ("AU", "Australia"), ("ES", "Spain"), ("IT", "Italy"), ("KR",
    "South Korea"),
    ("NZ", "New Zealand"), ("IE", "Ireland"),
)  # fmt: skip
COMPANIES = (
    "Silver Lantern Pictures", "Northgate Studios", "Bluefield Films", "Harbor Light Entertainment",
    "Red Kite Productions", "Cobalt Bay Media", "Granite Peak Pictures", "Little Owl Animation",
    "Meridian Screen Works", "Paper Moon Films", "Copperline Studios", "Wildflower Features",
    "Ironwood Entertainment", "Starling House", "Open Field Pictures", "Tidewater Films",
)  # fmt: skip
TRANSLATION_LANGS = (
    ("NL", "nl", "Nederlands", "Dutch"), ("CN", "zh", "Mandarin", "Mandarin"),
    ("US", "en", "English", "English"), ("DE", "de", "Deutsch", "German"),
    ("RU", "ru", "Russkiy", "Russian"), ("JP", "ja", "Nihongo", "Japanese"),
)  # fmt: skip
TITLE_FIRST = (
    "Silent", "Midnight", "Golden", "Broken", "Hidden", "Last", "Crimson", "Distant", "Frozen", "Electric",
    "Paper", "Wild", "Quiet", "Burning", "Lonely", "Secret", "Iron", "Velvet", "Endless", "Falling",
)  # fmt: skip
TITLE_SECOND = (
    "Harbor", "Orchard", "Frontier", "Kingdom", "River", "Signal", "Garden", "Horizon", "Empire", "Voyage",
    "Mirror", "Summer", "Storm", "Letters", "Machine", "Highway", "Island", "Symphony", "Witness", "Lantern",
)  # fmt: skip
FIRST_NAMES = (
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Isla", "Lucas", "Nora", "Owen", "Clara", "Felix", "Hana",
    "Jonas", "Leila", "Marco", "Nina", "Oscar", "Priya", "Rafael", "Sofia", "Tomas", "Vera", "Yusuf", "Elena",
    "Daniel", "Grace", "Henry", "Iris", "Jack", "Kira", "Leo", "Mila", "Nathan", "Olivia", "Paul",
    "Rosa", "Sam",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Bennett", "Castillo", "Dubois", "Eriksen", "Fischer", "Gallagher", "Hayes", "Ibarra", "Jensen",
    "Kowalski", "Laurent", "Morales", "Nakamura", "O'Neill", "Petrov", "Quinn", "Rossi", "Sato", "Thornton",
    "Ueda", "Varga", "Whitaker", "Young", "Zimmer", "Alvarez", "Brooks", "Chen", "Duarte", "Ellis",
)  # fmt: skip
BIRTHPLACES = (
    "Tucson, Arizona, USA", "London, England, UK", "Lyon, France", "Toronto, Ontario, Canada",
    "Sydney, Australia",
    "Osaka, Japan", "Madrid, Spain", "Chicago, Illinois, USA", "Dublin, Ireland", "Hamburg, Germany",
    "Seoul, South Korea", "Auckland, New Zealand", "Austin, Texas, USA", "Milan, Italy",
    "Portland, Oregon, USA",
)  # fmt: skip
KEYWORDS = (
    "revenge", "friendship", "small town", "time travel", "heist", "based on novel", "coming of age",
    "road trip",
    "artificial intelligence", "family secret", "survival", "music band", "detective", "island",
    "war veteran",
    "dystopia", "first love", "rivalry", "haunted house", "space station", "treasure", "kidnapping", "chef",
)  # fmt: skip
ROLES = (
    "Detective",
    "Captain",
    "Doctor",
    "Professor",
    "Agent",
    "Mayor",
    "Sergeant",
    "Nurse",
    "Pilot",
    "Judge",
)


@dataclass
class Person:
    id: int
    name: str
    birthday: str
    place_of_birth: str
    biography: str
    imdb_id: str
    facebook_id: str | None
    instagram_id: str | None
    twitter_id: str | None
    cast: list[dict] = field(default_factory=list)  # {'id', 'title', 'character'}
    crew: list[dict] = field(default_factory=list)  # {'id', 'title', 'job'}


@dataclass
class Movie:
    id: int
    title: str
    overview: str
    release_date: str
    genres: list[dict]
    budget: int
    revenue: int
    vote_average: float
    companies: list[dict]
    countries: list[dict]
    keywords: list[str]
    alternative_titles: list[dict]
    translations: list[dict]
    cast: list[dict]  # {'id', 'name', 'character'}
    crew: list[dict]  # {'id', 'name', 'job'}


@dataclass
class MovieDatabase:
    movies: dict[int, Movie]
    people: dict[int, Person]

    # ------------------------------------------------------------------ look-ups
    def movie(self, movie_id) -> Movie:
        movie = self.movies.get(_as_id(movie_id))
        if movie is None:
            raise ToolError(f"no movie has the id {movie_id!r}; get_search_movie gives a movie's id.")
        return movie

    def person(self, person_id) -> Person:
        person = self.people.get(_as_id(person_id))
        if person is None:
            raise ToolError(f"no person has the id {person_id!r}; get_search_person gives a person's id.")
        return person

    def __post_init__(self):
        self._movie_index = _SearchIndex([(m.title, m) for m in self.movies.values()])
        self._person_index = _SearchIndex([(p.name, p) for p in self.people.values()])

    def find_movie(self, name: str) -> Movie | None:
        return self._movie_index.find(name)

    def find_person(self, name: str) -> Person | None:
        return self._person_index.find(name)


def _as_id(value) -> int | None:
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("'", " ").split())


class _SearchIndex:
    """TMDB-like search: an exact name first, else the shortest name holding every query word."""

    def __init__(self, named: list[tuple[str, object]]):
        self.exact: dict[str, object] = {}
        self.entries = []
        for name, item in sorted(named, key=lambda pair: (len(pair[0]), pair[0])):
            key = _normal(name)
            self.exact.setdefault(key, item)
            self.entries.append((frozenset(key.split()), item))

    def find(self, query: str):
        wanted = _normal(query)
        if not wanted:
            return None
        if wanted in self.exact:
            return self.exact[wanted]
        words = set(wanted.split())
        return next((item for names, item in self.entries if words <= names), None)


@lru_cache(maxsize=1)
def database() -> MovieDatabase:
    """The one film database (seeded: the same on every machine)."""
    rng = random.Random(0x4D0F1E)
    people = _people(rng)
    actors, makers = people[:420], people[420:]
    directors = makers[:60]
    movies: dict[int, Movie] = {}
    titles = set()
    while len(movies) < 300:
        title = _title(rng)
        if title in titles:
            continue
        titles.add(title)
        movie = _movie(rng, 19_000 + 37 * len(movies), title, actors, makers, directors)
        movies[movie.id] = movie
    by_id = {p.id: p for p in people}
    for movie in sorted(movies.values(), key=lambda m: m.release_date, reverse=True):  # newest credits first
        for credit in movie.cast:
            by_id[credit["id"]].cast.append(
                {"id": movie.id, "title": movie.title, "character": credit["character"]}
            )
        for credit in movie.crew:
            by_id[credit["id"]].crew.append({"id": movie.id, "title": movie.title, "job": credit["job"]})
    return MovieDatabase(movies, by_id)


def _people(rng: random.Random) -> list[Person]:
    names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    people = []
    for index, name in enumerate(names[:540]):
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(60 * 365))
        place = rng.choice(BIRTHPLACES)
        handle = name.lower().replace(" ", "").replace("'", "")
        people.append(
            Person(
                id=500_000 + 101 * index,
                name=name,
                birthday=born.isoformat(),
                place_of_birth=place,
                biography=f"{name} (born {born:%B} {born.day}, {born.year}) is a film artist from {place}.",
                imdb_id=f"nm{rng.randrange(10**6, 10**7)}",
                facebook_id=handle if rng.random() < 0.5 else None,
                instagram_id=handle if rng.random() < 0.6 else None,
                twitter_id=handle if rng.random() < 0.4 else None,
            )
        )
    return people


def _title(rng: random.Random) -> str:
    first, second = rng.choice(TITLE_FIRST), rng.choice(TITLE_SECOND)
    form = rng.randrange(4)
    return (
        (f"The {first} {second}", f"{first} {second}", f"{second} of the {first}", f"The {second}")[form]
        if form < 3 or rng.random() < 0.2
        else f"{first} {second} II"
    )


def _movie(rng: random.Random, movie_id: int, title: str, actors, makers, directors) -> Movie:
    released = dt.date(1980, 1, 1) + dt.timedelta(days=rng.randrange(44 * 365))
    genres = [{"id": g, "name": n} for g, n in rng.sample(GENRES, rng.randint(1, 3))]
    budget = rng.randrange(2, 250) * 1_000_000
    revenue = int(budget * rng.uniform(0.2, 5.0)) // 1000 * 1000
    countries = [
        {"iso_3166_1": c, "name": n}
        for c, n in rng.sample(COUNTRIES[:6], 1) + rng.sample(COUNTRIES, rng.randint(0, 1))
    ]
    countries = list({c["iso_3166_1"]: c for c in countries}.values())
    companies = [
        {"id": 1000 + COMPANIES.index(name) * 13, "name": name, "origin_country": countries[0]["iso_3166_1"]}
        for name in rng.sample(COMPANIES, rng.randint(1, 3))
    ]
    cast_people = rng.sample(actors, rng.randint(6, 12))
    cast = [
        {
            "id": p.id,
            "name": p.name,
            "character": f"{rng.choice(ROLES)} {rng.choice(LAST_NAMES)}"
            if i % 2
            else p.name.split()[0] + " " + rng.choice(LAST_NAMES),
        }
        for i, p in enumerate(cast_people)
    ]
    director = rng.choice(directors)
    others = rng.sample([m for m in makers if m is not director], 5)
    jobs = ("Producer", "Producer", "Writer", "Original Music Composer", "Editor")
    crew = [{"id": director.id, "name": director.name, "job": "Director"}] + [
        {"id": p.id, "name": p.name, "job": job} for p, job in zip(others, jobs)
    ]
    words = rng.sample(KEYWORDS, rng.randint(2, 5))
    overview = (
        f"A {genres[0]['name'].lower()} story of {words[0]} and {words[1]}, set in {countries[0]['name']}."
    )
    alternative = [
        {"iso_3166_1": c, "title": f"{title} ({c})", "type": ""}
        for c in rng.sample(("FR", "DE", "JP", "ES", "BR"), rng.randint(0, 3))
    ]
    translations = [
        {
            "iso_3166_1": c,
            "iso_639_1": lang,
            "name": native,
            "english_name": english,
            "data": {
                "homepage": "",
                "overview": f"[{english}] {overview}",
                "runtime": rng.randint(85, 170),
                "tagline": "",
            },
        }
        for c, lang, native, english in TRANSLATION_LANGS
        if rng.random() < 0.7
    ]
    return Movie(
        movie_id,
        title,
        overview,
        released.isoformat(),
        genres,
        budget,
        revenue,
        round(rng.uniform(4.5, 8.9), 1),
        companies,
        countries,
        words,
        alternative,
        translations,
        cast,
        crew,
    )


class MovieToolkit:
    """AgentGym's 14 movie tools over :func:`database` (replies as AgentGym trims TMDB's)."""

    def __init__(self, db: MovieDatabase):
        self.db = db

    def get_search_movie(self, movie_name: str) -> list:
        movie = self.db.find_movie(movie_name)
        return [] if movie is None else [{"id": movie.id, "overview": movie.overview, "title": movie.title}]

    def get_movie_details(self, movie_id: str) -> dict:
        m = self.db.movie(movie_id)
        return {
            "title": m.title,
            "budget": m.budget,
            "genres": m.genres,
            "revenue": m.revenue,
            "vote_average": m.vote_average,
            "release_date": m.release_date,
        }

    def get_movie_production_companies(self, movie_id: str) -> dict:
        return {"production_companies": self.db.movie(movie_id).companies}

    def get_movie_production_countries(self, movie_id: str) -> dict:
        return {"production_countries": self.db.movie(movie_id).countries}

    def get_movie_cast(self, movie_id: str) -> dict:
        return {"cast": self.db.movie(movie_id).cast[:10]}

    def get_movie_crew(self, movie_id: str) -> dict:
        return {"crew": self.db.movie(movie_id).crew[:10]}

    def get_movie_keywords(self, movie_id: str) -> dict:
        return {"keywords": list(self.db.movie(movie_id).keywords)}

    def get_search_person(self, person_name: str) -> list:
        person = self.db.find_person(person_name)
        return [] if person is None else [{"id": person.id, "name": person.name}]

    def get_person_details(self, person_id: str) -> dict:
        p = self.db.person(person_id)
        return {
            "name": p.name,
            "biography": p.biography,
            "birthday": p.birthday,
            "place_of_birth": p.place_of_birth,
        }

    def get_person_cast(self, person_id: str) -> dict:
        return {"cast": self.db.person(person_id).cast[:10]}

    def get_person_crew(self, person_id: str) -> dict:
        return {"crew": self.db.person(person_id).crew[:10]}

    def get_person_external_ids(self, person_id: str) -> dict:
        p = self.db.person(person_id)
        return {
            "imdb_id": p.imdb_id,
            "facebook_id": p.facebook_id,
            "instagram_id": p.instagram_id,
            "twitter_id": p.twitter_id,
        }

    def get_movie_alternative_titles(self, movie_id: str) -> dict:
        m = self.db.movie(movie_id)
        return {"id": m.id, "titles": m.alternative_titles}

    def get_movie_translation(self, movie_id: str) -> dict:
        m = self.db.movie(movie_id)
        return {"id": m.id, "translations": m.translations}
