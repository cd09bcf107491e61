"""The tool-calling envs (Weather, Movie, Academia, Sheet, TODOList): the shared parsing and
checks, each backend, and AgentGym's own Sheet and TODO tasks replayed from ../shared/fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
from helpers import solve

import agentgym_envs  # noqa: F401  (registers the ids)
from agentgym_envs.envs.tools.base import (
    CHECK_VALID_ACTIONS,
    Param,
    Tool,
    ToolError,
    answers_match,
    check_arguments,
    parse_call,
    parse_regex,
)

FIXTURES = Path(__file__).parents[1].parent / "shared" / "fixtures" / "agentgym_tool"


def fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"AgentGym's tool data is not here ({path}): the real-task tests need ../shared/fixtures")
    return path


# ------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize(
    "text",
    [
        'get_tasks with Action Input: {"project_id": "12"}',
        "get_tasks with Action Input: {'project_id': '12'}",
        'Thought: I look.\nAction: get_tasks with Action Input: {"project_id": "12"}',
        'Action: get_tasks with Action Input: ```{"project_id": "12"}```',
    ],
)
def test_calls_parse_from_json_or_python_literals(text):
    assert parse_call(text) == ("get_tasks", {"project_id": "12"})


@pytest.mark.parametrize(
    "text, words",
    [
        ("get_tasks", "format"),
        ("get_tasks with Action Input: {project_id: 12}", "not valid JSON"),
        ("get_tasks with Action Input: __import__('os').system('echo hacked')", "not valid JSON"),
        ("get_tasks with Action Input: [1, 2]", "object"),
        ("rm -rf / with Action Input: {}", "not a tool name"),
    ],
)
def test_bad_calls_are_explained_and_never_evaluated(text, words, capfd):
    with pytest.raises(ToolError, match=words):
        parse_call(text)
    assert "hacked" not in capfd.readouterr().out


def test_arguments_are_checked_against_the_schema():
    tool = Tool(
        "t",
        "",
        (Param("n", "integer", ""), Param("xs", "array", ""), Param("s", "string", "", required=False)),
    )
    assert check_arguments(tool, {"n": "7", "xs": "[[1], [2]]"}) == {"n": 7, "xs": [[1], [2]]}
    with pytest.raises(ToolError, match="missing the required argument 'xs'"):
        check_arguments(tool, {"n": 1})
    with pytest.raises(ToolError, match="'n' of t should be integer"):
        check_arguments(tool, {"n": "seven", "xs": []})
    with pytest.raises(ToolError, match="does not take the argument"):
        check_arguments(tool, {"n": 1, "xs": [], "extra": 1})
    assert check_arguments(CHECK_VALID_ACTIONS, {}) == {}


def test_answers_match_numbers_text_and_lists():
    assert answers_match("18.5", 18.5) and answers_match(18.504, 18.5) and not answers_match(18.7, 18.5)
    assert answers_match(" yes. ", "Yes") and answers_match("'The Dark Knight'", "The Dark Knight")
    assert answers_match(["b", "a"], ["a", "b"]) and answers_match("['b', 'a']", ["a", "b"])
    assert not answers_match(["a"], ["a", "b"]) and not answers_match(["a", "a"], ["a", "b"])
    assert answers_match(["x"], "x") and not answers_match({"a": 1}, "a")


def test_regex_queries_are_read_not_evaluated():
    assert parse_regex("re.compile('^(Meat|Fish)$')").search("Fish")
    with pytest.raises(ToolError, match="one quoted pattern"):
        parse_regex("re.compile(__import__('os'))")
    with pytest.raises(ToolError, match="not a valid regular expression"):
        parse_regex("(")


# ------------------------------------------------------------------------------ shared env behaviour
TOOL_ENVS = [
    "AgentGym/TODOList-v0",
    "AgentGym/Sheet-v0",
    "AgentGym/Weather-v0",
    "AgentGym/Movie-v0",
    "AgentGym/Academia-v0",
]


def make_tool_env(env_id: str, **kwargs) -> gym.Env:
    problem = agentgym_envs.family(env_id).missing_engine()
    if problem:
        pytest.skip(problem)
    return gym.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_observations_use_agentgym_texts(env_id):
    env = make_tool_env(env_id)
    obs, info = env.reset(options={"task_id": 0})
    assert obs.startswith("Now new trial starts.\nYou should perform actions to accomplish the goal: ")
    assert obs.endswith("\nGive me one action.")
    obs, *_ = env.step("check_valid_actions with Action Input: {}")
    assert obs.startswith("Observation: You can use following valid actions: [") and "finish" in obs
    obs, reward, terminated, *_ = env.step("fly_away with Action Input: {}")
    assert "ERROR | 'fly_away' is not a valid action" in obs and reward == 0 and not terminated
    assert "check_valid_actions" in info["instruction"] and "Action Input" in info["instruction"]


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_expert_solves_every_generated_test_and_training_task(env_id):
    env = make_tool_env(env_id)
    ids = list(env.unwrapped.task_ids("test")) + list(env.unwrapped.task_ids("train"))
    failed = [task_id for task_id in ids if not solve(env, task_id)[0]["success"]]
    assert not failed


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_a_wrong_answer_scores_zero(env_id):
    env = make_tool_env(env_id)
    env.reset(options={"task_id": 1})
    env.step('finish with Action Input: {"answer": "no idea at all"}')
    obs, reward, terminated, _, info = env.step("finish with Action Input: {}")
    assert not info["success"] and info["score"] < 1.0


# ------------------------------------------------------------------------------ TODOList
def todo_env(**kwargs) -> gym.Env:
    return gym.make("AgentGym/TODOList-v0", **kwargs)


def test_todo_tools_change_the_store_like_todoist():
    env = todo_env()
    env.reset(options={"task_id": 4})
    store = env.unwrapped.store
    project = store.projects[0]
    task = store.active_tasks(project)[0]
    listing = eval_observation(env.step(f'get_tasks with Action Input: {{"project_id": "{project.id}"}}')[0])
    assert listing[0] == {
        "id": task.id, "order": 1, "content": task.content, "is_completed": False,
        "priority": task.priority, "due_date": task.due_date,
    }  # fmt: skip
    obs = env.step(f'complete_task with Action Input: {{"task_id": "{task.id}"}}')[0]
    assert "Complete task successfully." in obs
    assert task.content not in env.step(f'get_tasks with Action Input: {{"project_id": "{project.id}"}}')[0]
    obs = env.step(f'complete_task with Action Input: {{"task_id": "{task.id}"}}')[0]
    assert f"ERROR | Task {task.id} does not exist." in obs
    obs = env.step(
        "update_task with Action Input: "
        f'{{"task_id": "{store.active_tasks()[0].id}", "due_date": "tomorrow"}}'
    )[0]
    assert "ERROR | due_date must be a date" in obs


def test_todo_success_needs_the_final_state_too():
    env = todo_env()
    for task_id in range(40):  # find a generated change task, answer 'done' without the change
        env.reset(options={"task_id": task_id})
        if env.unwrapped._spec.answer == "done":
            break
    _, _, terminated, _, info = env.step('finish with Action Input: {"answer": "done"}')
    assert terminated and not info["success"]


def test_todo_needs_both_agentgym_files():
    with pytest.raises(ValueError, match="start_state"):
        todo_env(tasks="todo.jsonl")


def test_agentgym_todo_tasks_replay_unchanged_and_the_expert_solves_all_155():
    env = todo_env(tasks=str(fixture("todo.jsonl")), start_state=str(fixture("todo_projects.json")))
    records = [json.loads(line) for line in fixture("todo.jsonl").read_text().splitlines()]
    assert len(records) == 155
    first, _ = env.reset(options={"task_id": 0})
    assert records[0]["goal"].strip() in first
    assert (
        env.unwrapped.store.get_user_current_date()
        == records[0]["additional_info"]["init_config"]["current_date"]
    )
    assert (
        env.unwrapped.store.state() == records[0]["additional_info"]["answer"]
    )  # a question: state unchanged
    failed = [r["id"] for r in records if not solve(env, r["id"])[0]["success"]]
    assert not failed
    with pytest.raises(ValueError, match="no task with id 160"):
        env.reset(options={"task_id": 160})


def test_agentgym_todo_change_without_the_change_fails():
    env = todo_env(tasks=str(fixture("todo.jsonl")), start_state=str(fixture("todo_projects.json")))
    env.reset(options={"task_id": 1})  # "... please mark it as completed."
    _, _, _, _, info = env.step('finish with Action Input: {"answer": "done"}')
    assert not info["success"]


def eval_observation(obs: str):
    import ast

    return ast.literal_eval(obs.removeprefix("Observation: ").removesuffix("\nGive me one action."))


# ------------------------------------------------------------------------------ Sheet
from agentgym_envs.envs.tools.sheet_backend import Grid, display, match_score  # noqa: E402


def sheet_env(**kwargs) -> gym.Env:
    pytest.importorskip("openpyxl", reason="Sheet needs the tools extra (openpyxl)")
    return gym.make("AgentGym/Sheet-v0", **kwargs)


def call(env, tool: str, **args):
    return env.step(f"{tool} with Action Input: {json.dumps(args)}")


def test_cells_show_as_google_sheets_shows_them():
    assert display(8.5, "#,##0.00") == "8.50" and display(1234.5, "#,##0.00") == "1,234.50"
    assert display(68.0) == "68" and display(4.7) == "4.7" and display(0.25, "0%") == "25%"
    assert display("95.0") == "95.0" and display(None) == ""


def test_sheet_tools_need_an_open_sheet_and_keep_agentgym_guards():
    env = sheet_env()
    env.reset(options={"task_id": 0})
    assert "Please open a sheet before operating it" in call(env, "get_all_values")[0]
    name = env.unwrapped._plan[0].args["name"]
    assert (
        call(env, "open_sheet", name=name)[0]
        == f"Observation: <Worksheet '{name}' id:{int(name[5:]) - 1}>\nGive me one action."
    )
    rows = len(env.unwrapped.book.open.values())
    obs = call(env, "delete_batch_data", dimension="row", index_list=list(range(2, rows + 1)))[0]
    assert "cannot delete whole sheet" in obs
    last = env.unwrapped.book.open.size()
    obs = call(
        env,
        "update_range",
        start_position="A1",
        end_position=f"{chr(64 + last[1])}{last[0]}",
        values_list=[["x"]],
    )[0]
    assert "cannot update whole sheet" in obs
    assert "not a cell position" in call(env, "update_cell", position="1A", value=3)[0]
    assert (
        "operator should be one of"
        in call(env, "get_value_by_formula", start_position="B2", end_position="B3", operator="MEDIAN")[0]
    )


def test_sort_keeps_frozen_rows_and_puts_numbers_before_text():
    grid = Grid("S")
    for r, row in enumerate([["Name", "Score"], ["a", 3], ["b", "n/a"], ["c", 10], ["d", None]], 1):
        for c, value in enumerate(row, 1):
            grid.set(r, c, value)
    grid.frozen_rows = 1
    grid.sort_by(2, descending=False)
    assert [row[0] for row in grid.values()] == ["Name", "a", "c", "b", "d"]
    grid.sort_by(2, descending=True)
    assert [row[0] for row in grid.values()] == ["Name", "b", "c", "a", "d"]


def test_formulas_notes_filters_and_inserts():
    env = sheet_env()
    env.reset(options={"task_id": 0})
    call(env, "open_sheet", name="Sheet1")
    book = env.unwrapped.book.open
    rows, cols = book.size()
    call(env, "update_cell", position="H2", value="2")
    call(env, "update_cell", position="H3", value=5)
    assert call(env, "get_value_by_formula", position_list=["H2", "H3"], operator="PRODUCT")[0].startswith(
        "Observation: 10\n"
    )
    call(
        env,
        "update_cell_by_formula",
        start_position="H2",
        end_position="H3",
        result_position="H4",
        operator="AVERAGE",
    )
    assert book.shown(4, 8) == "3.5"
    assert "the H2's note is check" in call(env, "update_note", position="H2", content="check")[0]
    call(env, "insert_rows", values_list=[["new"]], row_idx=2)
    assert call(env, "get_note", position="H3")[0].startswith("Observation: check")  # the note moved down
    assert "'A2'" in call(env, "filter_cells", query="re.compile('^ne.$')", in_column=1)[0]


def test_sheet_score_counts_missing_and_extra_rows():
    want = [["h"], ["1"], ["2"]]
    assert match_score([["h"], ["1"], ["2"]], want) == 1.0
    assert match_score([["h"], ["1"]], want) == pytest.approx(2 / 3)
    assert match_score([["h"], ["1"], ["2"], ["3"]], want) == 0.75
    assert match_score([["h"], ["1.00"], ["2"]], want) == 1.0


def test_sheet_needs_both_agentgym_files():
    with pytest.raises(ValueError, match="workbook"):
        sheet_env(tasks="sheet.jsonl")


def test_agentgym_workbook_shows_the_expected_tables_in_its_answer_sheets():
    pytest.importorskip("openpyxl")
    from agentgym_envs.envs.tools.sheet_backend import load_workbook

    grids = {g.title: g for g in load_workbook(str(fixture("sheet_initial.xlsx")))}
    for line in fixture("sheet.jsonl").read_text().splitlines():
        record = json.loads(line)
        expected = json.loads(record["additional_info"]["answer"])
        assert grids[f"Answer{record['id'] + 1}"].values() == expected  # formats read exactly


def test_agentgym_sheet_tasks_replay_unchanged_and_the_expert_solves_all_20():
    env = sheet_env(tasks=str(fixture("sheet.jsonl")), workbook=str(fixture("sheet_initial.xlsx")))
    records = [json.loads(line) for line in fixture("sheet.jsonl").read_text().splitlines()]
    first, _ = env.reset(options={"task_id": 0})
    assert records[0]["goal"].strip() in first
    failed = [r["id"] for r in records if not solve(env, r["id"])[0]["success"]]
    assert not failed
    env.reset(options={"task_id": 1})  # opening the sheet alone is partial progress, not success
    _, reward, _, _, info = call(env, "open_sheet", name="Sheet2")
    assert 0 < reward < 1 and not info["success"]


# ------------------------------------------------------------------------------ Weather
def weather_env() -> gym.Env:
    return make_tool_env("AgentGym/Weather-v0")


def test_weather_places_are_real_and_the_weather_plausible():
    import datetime as dt

    from agentgym_envs.envs.tools import weather_backend as wb

    moscow = wb.geocode("Moscow")["results"][0]
    assert moscow["country_code"] == "RU" and abs(moscow["latitude"] - 55.75) < 0.1
    assert wb.geocode("bogota")["results"][0]["country_code"] == "CO"  # ASCII alternate names find it
    cell = wb.grid_cell(moscow["latitude"], moscow["longitude"])
    january = [wb.day(cell, dt.date(2023, 1, d)).temperature_mean for d in range(1, 29)]
    july = [wb.day(cell, dt.date(2023, 7, d)).temperature_mean for d in range(1, 29)]
    assert max(january) < 5 < 15 < min(july) + 10 and sum(july) > sum(january)
    assert wb.day(cell, dt.date(2023, 1, 5)) == wb.day(wb.grid_cell(55.7522, 37.6156), dt.date(2023, 1, 5))
    assert abs(wb.distance_km(48.8566, 2.3522, 51.5074, -0.1278) - 343.5) < 2  # Paris-London


def test_weather_tools_keep_agentgym_date_rules():
    env = weather_env()
    env.reset(options={"task_id": 0})
    today = env.unwrapped.toolkit.today.isoformat()
    args = {"latitude": 40.7, "longitude": -74.0, "start_date": today, "end_date": today}
    assert "earlier than current_date" in call(env, "get_historical_temp", **args)[0]
    assert "later than current_date" in call(env, "get_rain_forecast", **args)[0]
    assert (
        "maximum time span of 30 days"
        in call(
            env,
            "get_historical_rain",
            latitude=1,
            longitude=1,
            start_date="2000-01-01",
            end_date="2000-03-01",
        )[0]
    )
    assert "YYYY-MM-DD" in call(env, "get_current_temp", latitude=1, longitude=1, current_date="today")[0]
    assert "latitude must be within" in call(env, "get_elevation", latitude=123, longitude=0)[0]
    assert "no place named" in call(env, "get_latitude_longitude", name="Atlantis of the Deep")[0]
    obs = call(env, "get_current_air_quality_index", latitude=40.71, longitude=-74.01, current_date=today)[0]
    assert "'european_aqi_pm2_5': [" in obs and "'latitude': 40.7" in obs
    assert call(env, "get_air_quality_level", air_quality_index=35)[0].startswith("Observation: fair")


# ------------------------------------------------------------------------------ Movie
def test_movie_database_is_fixed_and_searchable():
    from agentgym_envs.envs.tools.movie_backend import MovieToolkit, database

    db = database()
    assert len(db.movies) == 300 and len(db.people) == 540
    movie = db.movies[19_000]
    assert movie.title == "Midnight Witness II"  # the same database on every machine
    tools = MovieToolkit(db)
    assert tools.get_search_movie(movie.title.upper())[0]["id"] == movie.id
    assert tools.get_search_movie("zzz nothing") == []
    director = next(c for c in tools.get_movie_crew(str(movie.id))["crew"] if c["job"] == "Director")
    assert {"id": movie.id, "title": movie.title, "job": "Director"} in db.person(director["id"]).crew
    assert set(tools.get_movie_details(movie.id)) == {
        "title",
        "budget",
        "genres",
        "revenue",
        "vote_average",
        "release_date",
    }
    assert len(tools.get_movie_cast(movie.id)["cast"]) <= 10


def test_movie_tools_explain_unknown_ids():
    env = make_tool_env("AgentGym/Movie-v0")
    env.reset(options={"task_id": 0})
    assert "no movie has the id '12'" in call(env, "get_movie_details", movie_id="12")[0]
    assert "no person has the id 'abc'" in call(env, "get_person_details", person_id="abc")[0]
    assert call(env, "get_search_person", person_name="Nobody Atall")[0].startswith("Observation: []")


# ------------------------------------------------------------------------------ Academia
def test_academia_nets_must_be_loaded_and_agree_with_each_other():
    from agentgym_envs.envs.tools.academia_backend import graph

    g = graph()
    assert (len(g.papers), len(g.authors)) == (420, 300)
    env = make_tool_env("AgentGym/Academia-v0")
    env.reset(options={"task_id": 0})
    paper = next(iter(g.papers.values()))
    assert "Please load the PaperNet first." in call(env, "paperNodeCheck", node=paper.title)[0]
    call(env, "loadPaperNet")
    call(env, "loadAuthorNet")
    assert f"'year': {paper.year}" in call(env, "paperNodeCheck", node=paper.title)[0]
    assert "There is no node named Nobody in the AuthorNet." in call(env, "authorNodeCheck", node="Nobody")[0]
    assert "not a graph here" in call(env, "neighbourCheck", graph="CitationNet", node=paper.title)[0]
    if len(paper.authors) > 1:  # co-authors are neighbours, and their edge holds the paper
        a, b = paper.authors[:2]
        assert b in eval_observation(call(env, "neighbourCheck", graph="AuthorNet", node=a)[0])
        assert (
            paper.title
            in eval_observation(call(env, "authorEdgeCheck", node1=a, node2=b)[0])["collaborative_papers"]
        )


def test_sheet_refuses_positions_that_would_allocate_millions_of_cells():
    env = sheet_env()
    env.reset(options={"task_id": 0})
    call(env, "open_sheet", name="Sheet1")
    assert "not a cell position" in call(env, "update_cell", position="A99999999", value=1)[0]
    assert "not a row or column number" in call(env, "insert_rows", values_list=[["x"]], row_idx=10**9)[0]
    rows = env.unwrapped.book.open.values()
    assert call(env, "get_range_values", start_position="A1", end_position="ZZ10000")[0] == (
        f"Observation: {rows}\nGive me one action."
    )  # cut to the used range
    obs = call(env, "get_value_by_formula", start_position="A1", end_position="ZZ10000", operator="COUNT")[0]
    assert obs.startswith("Observation: ")


ODD_VALUES = [None, "", "x" * 300, -1, 0, 10**30, 1e308, float("nan"), [], [[]], [[1, None]], {"a": 1}, True]


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_every_tool_survives_odd_argument_values(env_id):
    import random

    env = make_tool_env(env_id).unwrapped
    rng = random.Random(0)

    def start():  # with the sheet open and the nets loaded, so the tools really run
        env.reset(options={"task_id": 0})
        for setup in ("open_sheet", "loadPaperNet", "loadAuthorNet"):
            step = next((s for s in env._plan if s.tool == setup), None)
            if step is None and setup in env._tools:
                env.step(f"{setup} with Action Input: {{}}")
            elif step is not None:
                env.step(step.action)

    start()
    for tool in env.tools:
        for _ in range(12):
            if env.done:
                start()
            args = {p.name: rng.choice(ODD_VALUES) for p in tool.params}
            obs, reward, *_ = env.step(f"{tool.name} with Action Input: {json.dumps(args)}")
            assert obs.startswith("Observation: ") and obs in env.observation_space
