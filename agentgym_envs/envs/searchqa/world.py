"""The generated encyclopedia: a fictional world of countries, cities, organisations, people and
works with consistent facts, written as Wikipedia-style passages in wiki-18's corpus format
(``{"id", "contents": "\\"Title\\"\\ntext"}``).

The world is two disjoint halves (a quarter of it for test questions, the rest for training),
each with its own countries, cities, organisations, people and works; every relation stays inside
its half, so a test question never touches an entity a training question does. Facts:

* country: capital (a city), currency;
* city: country, river, population;
* organisation (publishing house, film studio, record label, university, company): year founded,
  founder (a person), headquarters (a city);
* person: birth year, birthplace (a city), occupation, father (an older person, whose surname the
  child carries), university, employer;
* work (novel, film, album): year, genre, creator (a novelist, film director or singer), publisher
  / studio / label.

Each fact is written once, in its subject's passage; a person has a biography passage and, if a
creator, a second passage listing the works (as Wikipedia's articles are cut into 100-word
passages with the title repeated). So a question that chains two facts needs two passages.

Sizes scale from a few hundred passages to millions (``num_passages``, about; memory grows with
the entity count, not the text: a passage is written when it is read). Everything is drawn from
``random.Random`` seeded by text, so the same ``(num_passages, seed)`` gives the same world on any
machine. ``WORLD_FORMAT`` is part of every cache key: bump it when anything written here changes.
"""

from __future__ import annotations

import bisect
import random
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

WORLD_FORMAT = 1
TEST_SHARE = 0.25  # of the entities, the test half's share (AgentGym: 51,713 test of 221,328 ids)
PASSAGES_PER_PERSON = 2.84  # measured: passages in the world per person generated

# A reference to an entity: (kind, index into that kind's list).
Ref = tuple[str, int]
KINDS = ("country", "city", "org", "person", "work")

# ------------------------------------------------------------------------------ vocabulary
_ONSETS = "b br c d dr f g gr h k l m n p r s st t tr v w z th sh kl".split()
_VOWELS = "a e i o u a e o ai ea".split()
_CODAS = ["", "", "", "n", "r", "l", "s", "th", "nd", "rk", "m", "st", "x", "v", "ll", "rn"]
GIVEN_NAMES = {
    False: (
        "Aldous Anton Arvid Bastian Benedikt Caspar Cyril Dmitri Edmund Elias Emil Felix Florian "
        "Gideon Gregor Hugo Ilya Ivo Jasper Joachim Jonas Julian Kasimir Konrad Lars Leander Lucian "
        "Magnus Matthias Milo Nikolai Oskar Osric Pavel Quentin Rafael Roderick Rupert Silas Stellan "
        "Tobias Tomas Ulrich Valentin Viktor Walter Xavier Yannick Zeno Adrian Bruno Dorian Erik "
        "Fabian Henrik Ignatius Leopold Marius Nestor Orson Philipp Rainer Sander Teodor Vincent"
    ).split(),
    True: (
        "Ada Agnes Alma Amara Annika Astrid Beatrix Camille Celeste Clara Dagny Delia Edith Elena "
        "Elise Esme Freya Greta Hanna Helena Ida Ilse Ingrid Iris Isolde Juno Karin Klara Lena Liesel "
        "Lotte Maren Margit Mira Nadia Nora Odile Olga Petra Rosa Sabine Selma Signe Sonja Tamsin "
        "Thea Ulla Vera Wilma Yara Zora Adele Brigitta Cora Dorothea Eira Frida Gemma Linnea Solveig"
    ).split(),
}
CREATORS = {"novelist": "novel", "film director": "film", "singer": "album"}
OTHER_OCCUPATIONS = (
    "physicist architect painter economist engineer journalist chemist politician historian "
    "botanist lawyer mathematician sculptor diplomat surgeon astronomer"
).split()
# work kind -> (organisation kind that issues it, genres)
WORK_KINDS = {
    "novel": ("publishing house", ("mystery", "historical", "science fiction", "romance", "adventure")),
    "film": ("film studio", ("drama", "comedy", "thriller", "western", "documentary")),
    "album": ("record label", ("jazz", "folk", "rock", "electronic", "blues")),
}
ORG_KINDS = ("publishing house", "film studio", "record label", "university", "company")
ORG_SUFFIXES = {
    "publishing house": ("House", "Press", "Books"),
    "film studio": ("Pictures", "Films", "Studios"),
    "record label": ("Records", "Music", "Sound"),
    "university": ("University", "College", "Institute"),
    "company": ("Industries", "Works", "Group"),
}
CITY_SUFFIXES = ("mere", "holm", "ford", "ton", "by", "stad", "wick", "gard", "dale", "port")
COUNTRY_SUFFIXES = ("ia", "land", "ara", "or", "ica")
CURRENCY_UNITS = ("crown", "mark", "florin", "thaler", "dinar", "real")
# Title words: none is a word the question phrases use ("author", "father", "capital", ...),
# so a title never reads as part of a question's relation chain.
TITLE_NOUNS = (
    "Harbour Winter Garden Lantern Mirror Orchard Bridge Tide Lighthouse Meadow Tower Voyage Letter "
    "Shadow Island Season Feather Compass Mountain Ember Song Window Station Forest Journey Echo "
    "Horizon Market Theatre Carnival Signal Promise Glacier Harvest Anchor Ladder Kingdom Thread"
).split()
TITLE_ADJECTIVES = (
    "Silent Glass Golden Distant Hollow Burning Quiet Northern Broken Velvet Paper Iron Crimson "
    "Silver Wandering Hidden Endless Bitter Gentle Restless Scarlet Pale Wild Lonely Summer"
).split()
TITLE_PATTERNS = (
    "The {noun} of {coined}",
    "{coined} {noun}",
    "{adjective} {coined}",
    "Letters from {coined}",
    "The {coined} {noun}",
    "A {noun} in {coined}",
    "{adjective} {noun} over {coined}",
    "Return to {coined}",
)


# ------------------------------------------------------------------------------ entities
@dataclass(slots=True)
class Country:
    name: str
    currency: str
    capital: int = -1


@dataclass(slots=True)
class City:
    name: str
    country: int
    river: str
    population: int


@dataclass(slots=True)
class Org:
    name: str
    kind: str
    founded: int
    founder: int
    hq: int


@dataclass(slots=True)
class Person:
    first: str
    last: str
    female: bool
    born: int
    birthplace: int
    occupation: str
    father: int = -1
    alma_mater: int = -1
    employer: int = -1
    works: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(slots=True)
class Work:
    title: str
    kind: str
    year: int
    genre: str
    creator: int
    org: int = -1


# ------------------------------------------------------------------------------ how facts are written
# Fact slots in sentence templates, and what each one's value looks like in text (the expert reads
# a passage with these patterns). Grammar slots ({He}, {a}, {is}, ...) vary with the subject.
PROPER = r"[A-Z][\w'-]*(?: [A-Z][\w'-]*)*"
VALUE_PATTERNS = {
    "born": r"\d{4}",
    "year": r"\d{4}",
    "founded": r"\d{4}",
    "population": r"\d[\d,]*",
    "occupation": r"[a-z]+(?: [a-z]+)*?",
    "genre": r"[a-z]+(?: [a-z]+)*?",
    "currency": r"[A-Z][a-z]+ [a-z]+",
    "river": r"[A-Z][a-z]+",
}  # every other fact slot names an entity: PROPER
GRAMMAR_PATTERNS = {
    "He": "(?:He|She)",
    "he": "(?:he|she)",
    "His": "(?:His|Her)",
    "his": "(?:his|her)",
    "son": "(?:son|daughter)",
    "a": "(?:a|an)",
    "is": "(?:is|was)",
    "kind": "(?:novel|film|album)",
    "orgkind": "(?:publishing house|film studio|record label|university|company)",
}
# passage part -> sentences, each a list of variants; a sentence whose fact is missing is left out.
SENTENCES: dict[str, list[tuple[str, ...]]] = {
    "person": [
        (
            "{name} (born {born}) {is} {a} {occupation} from {birthplace}.",
            "{name} {is} {a} {occupation} who was born in {birthplace} in {born}.",
            "Born in {birthplace} in {born}, {name} {is} {a} {occupation}.",
        ),
        ("{He} is the {son} of {father}.", "{His} father was {father}."),
        ("{name} studied at {alma_mater}.", "{He} graduated from {alma_mater}."),
        ("{name} worked for {employer}.", "Later {he} joined the staff of {employer}."),
    ],
    "works": [("{name}'s works include {works}.", "Among {his} best known works are {works}.")],
    "work": [
        (
            "{name} is a {year} {genre} {kind} by {creator}.",
            "{name} is a {genre} {kind} by {creator}, first released in {year}.",
        ),
        ("It was issued by {org}.", "{org} brought it out."),
    ],
    "org": [
        (
            "{name} is a {orgkind} founded in {founded} by {founder}.",
            "{name} is a {orgkind} that {founder} founded in {founded}.",
        ),
        ("It is headquartered in {hq}.", "Its headquarters are in {hq}."),
    ],
    "city": [
        ("{name} is a city in {country}.", "{name} is a city of {country}."),
        ("It lies on the {river} River.", "The {river} River flows through the city."),
        ("It has a population of {population}.", "Its population is about {population}."),
    ],
    "country": [
        ("{name} is a country whose capital is {capital}.", "The capital of {name} is {capital}."),
        ("Its currency is the {currency}.", "The {currency} is the official currency of {name}."),
    ],
}
# Prose with no facts, names or numbers, so it never reads as a fact and adds no rare words.
FILLER = {
    "person": (
        "{He} was known among colleagues for a patient and careful manner.",
        "Friends described {his} early years as quiet and studious.",
        "{His} letters were later gathered by a small circle of admirers.",
        "Critics have praised the clarity and warmth of {his} work.",
        "{He} travelled widely and kept detailed notebooks on each journey.",
        "{He} often spoke about the importance of teaching the young.",
        "Several prizes recognised {his} contributions over the decades.",
        "{His} approach was regarded as unusual by many contemporaries.",
        "In later life {he} devoted more time to family and gardening.",
        "{He} remained a private person and rarely gave interviews.",
    ),
    "works": (
        "Reviewers noted a steady growth in ambition from one work to the next.",
        "Much of this output was shaped by long periods of travel.",
        "Several of these works were revised for later editions.",
        "The early pieces drew on memories of childhood and home.",
        "Scholars still debate which of them matters most.",
        "A few of them were first circulated among friends.",
        "Later pieces turned towards quieter and more personal themes.",
        "Collected editions have appeared in several languages.",
    ),
    "work": (
        "It received mixed reviews on release but gained admirers over time.",
        "Critics singled out its structure and its atmosphere.",
        "It has been translated and reissued several times.",
        "The work was a modest commercial success.",
        "Its ending divided audiences and critics alike.",
        "A restored edition appeared many years later.",
        "Its opening is often quoted by admirers.",
        "Some early reviewers found it too long.",
        "It influenced a number of later works in the same style.",
    ),
    "org": (
        "It grew steadily through the following decades.",
        "The organisation is known for its cautious and independent management.",
        "It has gone through several changes of ownership and direction.",
        "Its early years were marked by financial difficulties.",
        "It employs staff in several offices.",
        "A small archive records its history.",
        "Its logo has changed several times over the years.",
        "It has received awards for its work.",
        "Former staff have described a close and informal culture.",
        "It moved into larger premises as it expanded.",
    ),
    "city": (
        "The old town is known for its narrow streets and markets.",
        "The local economy rests on trade, crafts and tourism.",
        "A large annual fair draws visitors from the surrounding region.",
        "Several bridges connect the districts on either bank.",
        "The climate is mild, with wet winters and warm summers.",
        "Its cathedral and town hall date from the late middle ages.",
        "The city is a centre of regional government and education.",
        "Rail lines link it with the rest of the country.",
        "A botanical garden lies on the edge of the old walls.",
    ),
    "country": (
        "The country is known for its mountains, lakes and long coastline.",
        "Its economy is based on agriculture, trade and light industry.",
        "The nation has a long tradition of music and festivals.",
        "It is governed as a parliamentary republic.",
        "Most of the population lives in towns along the rivers.",
        "Its cuisine is known for bread, cheese and smoked fish.",
        "The national flag has three horizontal stripes.",
        "Winters in the north are long and cold.",
    ),
}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# ------------------------------------------------------------------------------ the world
class World:
    """Every entity of the generated encyclopedia and its passages, written on demand."""

    def __init__(self, num_passages: int, seed: int):
        self.num_passages_asked, self.seed = num_passages, seed
        self.countries: list[Country] = []
        self.cities: list[City] = []
        self.orgs: list[Org] = []
        self.persons: list[Person] = []
        self.works: list[Work] = []
        self.test_bounds: dict[str, int] = {}  # kind -> entities of the test half (they come first)
        self._coined: set[str] = set()
        self._names: set[str] = set()
        persons = max(12, round(num_passages / PASSAGES_PER_PERSON))
        test_persons = max(6, round(persons * TEST_SHARE))
        for half, count in (("test", test_persons), ("train", persons - test_persons)):
            _populate(self, random.Random(f"searchqa-world-{seed}-{half}"), max(6, count))
            if half == "test":
                self.test_bounds = {kind: len(self.entities(kind)) for kind in KINDS}
        del self._coined, self._names  # only generation needs them
        self._lay_out_passages()
        self._index_mentions()

    # ----------------------------------------------------------------- entities
    def entities(self, kind: str) -> list:
        return {
            "country": self.countries,
            "city": self.cities,
            "org": self.orgs,
            "person": self.persons,
            "work": self.works,
        }[kind]

    def name(self, ref: Ref) -> str:
        kind, index = ref
        entity = self.entities(kind)[index]
        return entity.title if kind == "work" else entity.name

    def in_test_half(self, ref: Ref) -> bool:
        return ref[1] < self.test_bounds[ref[0]]

    def half_range(self, kind: str, test: bool) -> range:
        bound = self.test_bounds[kind]
        return range(0, bound) if test else range(bound, len(self.entities(kind)))

    # ----------------------------------------------------------------- passages
    def _lay_out_passages(self) -> None:
        """Passage order: every kind's entities in turn; a creator's works passage follows the
        biography. ``_where[i]`` is passage i's (kind code, entity, part)."""
        kinds, entities, parts = array("b"), array("i"), array("b")
        self._first_passage: dict[str, array] = {}
        for code, kind in enumerate(KINDS):
            first = array("i")
            for index, entity in enumerate(self.entities(kind)):
                first.append(len(entities))
                count = 2 if kind == "person" and entity.works else 1
                for part in range(count):
                    kinds.append(code)
                    entities.append(index)
                    parts.append(part)
            self._first_passage[kind] = first
        self._where = (kinds, entities, parts)

    def __len__(self) -> int:
        return len(self._where[0])

    def passage_owner(self, position: int) -> tuple[Ref, int]:
        kinds, entities, parts = self._where
        return (KINDS[kinds[position]], entities[position]), parts[position]

    def passages_of(self, ref: Ref) -> list[int]:
        """The entity's own passages (its biography and works list, for a creator)."""
        first = self._first_passage[ref[0]][ref[1]]
        count = 2 if ref[0] == "person" and self.persons[ref[1]].works else 1
        return list(range(first, first + count))

    def passage(self, position: int) -> str:
        """Passage ``position`` as the corpus holds it: ``"Title"`` on the first line, then text."""
        (kind, index), part = self.passage_owner(position)
        slots = self._slots(kind, index)
        section = "works" if kind == "person" and part == 1 else kind
        sentences = []
        for number, variants in enumerate(SENTENCES[section]):
            template = variants[_pick(index, number, len(variants))]
            try:
                sentences.append(template.format(**slots))
            except KeyError:  # the entity lacks this fact (no father, no employer): no sentence
                continue
        fillers = FILLER[section]
        start = _pick(index, 11 + part, len(fillers))  # 3-6 different filler sentences, in turn
        for number in range(3 + _pick(index, 7 + part, 4)):
            sentences.append(fillers[(start + number) % len(fillers)].format(**slots))
        return f'"{self.name((kind, index))}"\n' + " ".join(sentences)

    def passages(self) -> Iterator[str]:
        return (self.passage(position) for position in range(len(self)))

    def _slots(self, kind: str, index: int) -> dict[str, str]:
        """What a passage's templates are filled with; a missing fact is a missing key."""
        if kind == "person":
            person = self.persons[index]
            slots = {
                "name": person.name,
                "born": str(person.born),
                "occupation": person.occupation,
                "birthplace": self.cities[person.birthplace].name,
                "a": _article(person.occupation),
                "is": "was" if person.born < 1900 else "is",
                "He": "She" if person.female else "He",
                "he": "she" if person.female else "he",
                "His": "Her" if person.female else "His",
                "his": "her" if person.female else "his",
                "son": "daughter" if person.female else "son",
            }
            if person.father >= 0:
                slots["father"] = self.persons[person.father].name
            if person.alma_mater >= 0:
                slots["alma_mater"] = self.orgs[person.alma_mater].name
            if person.employer >= 0:
                slots["employer"] = self.orgs[person.employer].name
            if person.works:
                works = sorted(person.works, key=lambda w: self.works[w].year)
                listed = [f"{self.works[w].title} ({self.works[w].year})" for w in works]
                slots["works"] = (
                    listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
                )
            return slots
        if kind == "work":
            work = self.works[index]
            slots = {
                "name": work.title,
                "year": str(work.year),
                "genre": work.genre,
                "kind": work.kind,
                "creator": self.persons[work.creator].name,
            }
            if work.org >= 0:
                slots["org"] = self.orgs[work.org].name
            return slots
        if kind == "org":
            org = self.orgs[index]
            return {
                "name": org.name,
                "orgkind": org.kind,
                "founded": str(org.founded),
                "founder": self.persons[org.founder].name,
                "hq": self.cities[org.hq].name,
            }
        if kind == "city":
            city = self.cities[index]
            return {
                "name": city.name,
                "country": self.countries[city.country].name,
                "river": city.river,
                "population": f"{city.population:,}",
            }
        country = self.countries[index]
        return {
            "name": country.name,
            "capital": self.cities[country.capital].name,
            "currency": country.currency,
        }

    # ----------------------------------------------------------------- facts
    def fact(self, ref: Ref, relation: str) -> Ref | str | None:
        """The value of ``relation`` for the entity: a Ref for an entity, text for a literal, None
        when the entity has no such fact."""
        kind, index = ref
        entity = self.entities(kind)[index]
        getter = _FACTS.get((kind, relation))
        if getter is None:
            raise KeyError(f"a {kind} has no fact {relation!r}")
        return getter(entity)

    # ----------------------------------------------------------------- mentions
    def _index_mentions(self) -> None:
        """Which passages name each entity (its own, and every passage whose facts name it), as
        compressed arrays: the questions use it to keep every multi-hop answer out of the passages
        that name the question's entity."""
        entity_ids, positions = array("i"), array("i")
        offsets = {kind: 0 for kind in KINDS}
        total = 0
        for kind in KINDS:
            offsets[kind] = total
            total += len(self.entities(kind))
        for position in range(len(self)):
            owner, part = self.passage_owner(position)
            for ref in self._named_in(owner, part):
                entity_ids.append(offsets[ref[0]] + ref[1])
                positions.append(position)
        ids = np.frombuffer(entity_ids, dtype=np.int32)
        order = np.argsort(ids, kind="stable")
        self._mention_positions = np.frombuffer(positions, dtype=np.int32)[order]
        self._mention_starts = np.searchsorted(ids[order], np.arange(total + 1)).astype(np.int64)
        self._entity_offsets = offsets

    def _named_in(self, owner: Ref, part: int) -> list[Ref]:
        kind, index = owner
        if kind == "person":
            person = self.persons[index]
            if part == 1:
                return [owner] + [("work", w) for w in person.works]
            named = [owner, ("city", person.birthplace)]
            named += [("person", person.father)] if person.father >= 0 else []
            named += [("org", o) for o in (person.alma_mater, person.employer) if o >= 0]
            return named
        if kind == "work":
            work = self.works[index]
            return [owner, ("person", work.creator)] + ([("org", work.org)] if work.org >= 0 else [])
        if kind == "org":
            org = self.orgs[index]
            return [owner, ("person", org.founder), ("city", org.hq)]
        if kind == "city":
            return [owner, ("country", self.cities[index].country)]
        return [owner, ("city", self.countries[index].capital)]

    def mentions(self, ref: Ref) -> list[int]:
        """Every passage that names the entity."""
        entity = self._entity_offsets[ref[0]] + ref[1]
        start, stop = self._mention_starts[entity], self._mention_starts[entity + 1]
        return self._mention_positions[start:stop].tolist()


_FACTS = {
    ("person", "born"): lambda p: str(p.born),
    ("person", "birthplace"): lambda p: ("city", p.birthplace),
    ("person", "occupation"): lambda p: p.occupation,
    ("person", "father"): lambda p: ("person", p.father) if p.father >= 0 else None,
    ("person", "alma_mater"): lambda p: ("org", p.alma_mater) if p.alma_mater >= 0 else None,
    ("person", "employer"): lambda p: ("org", p.employer) if p.employer >= 0 else None,
    ("work", "creator"): lambda w: ("person", w.creator),
    ("work", "year"): lambda w: str(w.year),
    ("work", "genre"): lambda w: w.genre,
    ("work", "org"): lambda w: ("org", w.org) if w.org >= 0 else None,
    ("org", "founded"): lambda o: str(o.founded),
    ("org", "founder"): lambda o: ("person", o.founder),
    ("org", "hq"): lambda o: ("city", o.hq),
    ("city", "country"): lambda c: ("country", c.country),
    ("city", "river"): lambda c: c.river,
    ("city", "population"): lambda c: f"{c.population:,}",
    ("country", "capital"): lambda c: ("city", c.capital),
    ("country", "currency"): lambda c: c.currency,
}


def _pick(index: int, salt: int, count: int) -> int:
    """A fixed, well-spread choice among ``count`` for an entity (no generator needed to re-write
    a passage)."""
    mixed = (index * 2654435761 + salt * 40503 + (index >> 7) * 97) & 0xFFFFFFFF
    mixed ^= mixed >> 15
    return (mixed * 2246822519 & 0xFFFFFFFF) % count


# ------------------------------------------------------------------------------ generation
def _coined(world: World, rng: random.Random, syllables: int = 2) -> str:
    """A new made-up word, never used before in this world."""
    while True:
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
        )
        word = word.capitalize()
        if len(word) >= 4 and word not in world._coined:
            world._coined.add(word)
            return word


def _unique(world: World, make) -> str:
    while True:
        name = make()
        if name not in world._names:
            world._names.add(name)
            return name


def _populate(world: World, rng: random.Random, num_persons: int) -> None:
    """Add one half of the world: its countries, cities, people, organisations and works."""
    country_base, city_base, org_base = len(world.countries), len(world.cities), len(world.orgs)
    person_base = len(world.persons)
    num_countries = max(3, num_persons // 150)
    num_cities = max(2 * num_countries, num_persons // 10)
    num_orgs = max(3 * len(ORG_KINDS), num_persons // 7)

    for _ in range(num_countries):
        stem = _coined(world, rng)
        name = _unique(world, lambda: stem + rng.choice(COUNTRY_SUFFIXES))
        adjective = re.sub(r"[aeiouy]+$", "", stem) + "ian"
        world.countries.append(Country(name, f"{adjective} {rng.choice(CURRENCY_UNITS)}"))
    for number in range(num_cities):
        country = country_base + (number if number < num_countries else rng.randrange(num_countries))
        name = _unique(world, lambda: _coined(world, rng) + rng.choice(CITY_SUFFIXES))
        population = rng.randrange(2, 2000) * 1000 + rng.randrange(1000)
        world.cities.append(City(name, country, _coined(world, rng), population))
        if world.countries[country].capital < 0:
            world.countries[country].capital = len(world.cities) - 1

    # People, oldest first, so a father is always generated before his children.
    births = sorted(rng.randrange(1850, 2000) for _ in range(num_persons))
    creators = list(CREATORS)
    for born in births:
        father = _choose_father(world, rng, person_base, born)
        female = rng.random() < 0.5
        last = world.persons[father].last if father >= 0 else _coined(world, rng)
        first_names = GIVEN_NAMES[female]
        first = _unique(world, lambda: f"{rng.choice(first_names)} {last}").split(" ", 1)[0]
        occupation = rng.choice(creators) if rng.random() < 0.55 else rng.choice(OTHER_OCCUPATIONS)
        birthplace = city_base + rng.randrange(num_cities)
        world.persons.append(Person(first, last, female, born, birthplace, occupation, father))

    for number in range(num_orgs):
        kind = ORG_KINDS[number % len(ORG_KINDS)]
        founded = rng.randrange(1880, 2000)
        founder = _person_born_between(world, rng, person_base, founded - 70, founded - 25)
        if founder < 0:  # no one old enough: found it later, by anyone born before
            founder = person_base + rng.randrange(num_persons)
            founded = min(2015, world.persons[founder].born + rng.randrange(25, 50))
        name = _unique(world, lambda: f"{_coined(world, rng)} {rng.choice(ORG_SUFFIXES[kind])}")
        world.orgs.append(Org(name, kind, founded, founder, city_base + rng.randrange(num_cities)))

    by_kind: dict[str, list[int]] = {kind: [] for kind in ORG_KINDS}
    for index in range(org_base, len(world.orgs)):
        by_kind[world.orgs[index].kind].append(index)
    employers = [o for kind in ORG_KINDS if kind != "university" for o in by_kind[kind]]
    for index in range(person_base, len(world.persons)):
        person = world.persons[index]
        # A person names at most one university and one other organisation, so two
        # organisations of one kind are never named in the same passage.
        if rng.random() < 0.75:
            person.alma_mater = _org_founded_before(world, rng, by_kind["university"], person.born + 18)
        if rng.random() < 0.6:
            person.employer = _org_founded_before(world, rng, employers, person.born + 30)
        work_kind = CREATORS.get(person.occupation)
        if work_kind is not None:
            for _ in range(rng.choice((1, 1, 2, 2, 3))):
                _add_work(world, rng, index, work_kind, by_kind[WORK_KINDS[work_kind][0]])


def _choose_father(world: World, rng: random.Random, person_base: int, born: int) -> int:
    if rng.random() >= 0.35:
        return -1
    return _person_born_between(world, rng, person_base, born - 45, born - 20, male=True)


def _person_born_between(
    world: World, rng: random.Random, base: int, earliest: int, latest: int, male: bool = False
) -> int:
    """A person of this half (the people from ``base`` on, generated oldest first) born in
    [earliest, latest], drawn at random; -1 if none."""
    persons = world.persons
    low = bisect.bisect_left(persons, earliest, lo=base, key=_born)
    high = bisect.bisect_right(persons, latest, lo=base, key=_born)
    if low >= high:
        return -1
    for _ in range(8):
        index = rng.randrange(low, high)
        if not male or not persons[index].female:
            return index
    return -1


def _born(person: Person) -> int:
    return person.born


def _org_founded_before(world: World, rng: random.Random, candidates: list[int], year: int) -> int:
    for _ in range(6):
        org = rng.choice(candidates)
        if world.orgs[org].founded <= year:
            return org
    return -1


def _add_work(world: World, rng: random.Random, creator: int, kind: str, issuers: list[int]) -> None:
    person = world.persons[creator]
    year = person.born + rng.randrange(20, 60)
    if year > 2023:
        year = rng.randrange(person.born + 18, 2024)
    genre = rng.choice(WORK_KINDS[kind][1])

    def title() -> str:
        pattern = rng.choice(TITLE_PATTERNS)
        return pattern.format(
            noun=rng.choice(TITLE_NOUNS), adjective=rng.choice(TITLE_ADJECTIVES), coined=_coined(world, rng)
        )

    work = Work(
        _unique(world, title), kind, year, genre, creator, _org_founded_before(world, rng, issuers, year)
    )
    person.works.append(len(world.works))
    world.works.append(work)
