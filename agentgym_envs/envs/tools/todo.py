"""TODOList (AgentGym's ``todo`` tool env, item ids ``todo_<n>``): a Todoist account, as tools.

The agent reads projects and tasks and changes them (complete, delete, move a due date, mark a
project favourite) through AgentGym's 12 TODO tools, then calls ``finish`` with its answer
('done' for a change). As in AgentGym a task succeeds when the answer matches *and* the account's
final state (every project and active task) equals the expected one.

Where it differs from AgentGym:

- The account is a local store (:mod:`.todo_backend`), not a live Todoist account that every
  run wipes and refills over the network.
- By default each task id is a generated account (projects and tasks written for this project,
  dates around a generated "today") and a question in the styles of AgentGym's 155 (due dates,
  overdue counts, durations, places, favourites, clearing expired tasks, ...), its answer and
  final state computed by running the expert's calls on a copy of the account.
- ``gym.make("AgentGym/TODOList-v0", tasks=<todo.jsonl>, start_state=<projects.json>)`` plays
  AgentGym's own tasks unchanged: task id n is the line whose ``id`` is n, the account starts
  from ``projects.json``, today and the user's city come from the line's ``init_config``, and the
  expected answer and final state are the line's. Its expert knows the gold answer and state: it
  looks the account over, makes the changes that turn the start into the expected state, and
  answers with the gold answer.
- Answers match ignoring case and quotes, numbers within a small tolerance, lists as sets
  (AgentGym compares the exact value, lists sorted).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentgym_envs.core import Outcome
from agentgym_envs.envs.tools.base import (
    CHECK_VALID_ACTIONS,
    Param,
    PlanStep,
    Tool,
    ToolEnv,
    answers_match,
    load_records,
    observe,
)
from agentgym_envs.envs.tools.todo_backend import TodoStore

_TASK_ID = (Param("task_id", "string", "the id of the task"),)
TOOLS = (
    Tool("get_user_current_date", "Tells you today's date for the user.", returns="a date 'YYYY-MM-DD'."),
    Tool("get_user_current_location", "Tells you which city the user is in.", returns="a city name."),
    Tool(
        "get_projects",
        "Lists every project in the account.",
        returns="a list of projects: id, order, color, name, is_favorite.",
    ),
    Tool(
        "update_project",
        "Marks a project as a favourite, or not.",
        (
            Param("project_id", "string", "the id of the project"),
            Param("is_favorite", "string", "'True' or 'False'"),
        ),
        returns="the updated project.",
    ),
    Tool(
        "get_tasks",
        "Lists the open tasks of one project.",
        (Param("project_id", "string", "the id of the project"),),
        returns="a list of tasks: id, order, content, is_completed, priority (1 normal, 4 urgent), due_date.",
    ),
    Tool(
        "get_task_description",
        "Reads a task's description (place, tips and other notes).",
        _TASK_ID,
        returns="id, content, description.",
    ),
    Tool(
        "get_task_duration",
        "Reads how long a task is expected to take.",
        _TASK_ID,
        returns="id, content, duration written 'amount(unit)'.",
    ),
    Tool("complete_task", "Marks a task as done.", _TASK_ID, returns="the completed task."),
    Tool(
        "update_task",
        "Moves a task's due date.",
        _TASK_ID + (Param("due_date", "string", "the new due date, YYYY-MM-DD"),),
        returns="the updated task.",
    ),
    Tool("delete_task", "Removes a task from the account.", _TASK_ID, returns="the deleted task."),
    CHECK_VALID_ACTIONS,
    Tool(
        "finish",
        "Ends the task. For a question, give the answer; for a change, answer 'done'.",
        (Param("answer", ("string", "number", "array"), "the answer, or 'done'", required=False),),
    ),
)
_CHANGES = {"complete_task", "update_task", "delete_task", "update_project"}


@dataclass(frozen=True)
class TodoTaskSpec:
    """One TODO task: the account it starts from, the question and what counts as solved."""

    goal: str
    projects: list[dict[str, Any]]
    current_date: str
    current_location: str
    answer: Any
    final_state: dict[str, Any] | None  # None until worked out: the state after the expert's plan


class TodoListEnv(ToolEnv):
    """Questions about, and changes to, a Todoist-style account of projects and tasks."""

    tools = TOOLS
    system_message = (
        "You can use actions to help people solve problems. You manage the user's to-do list "
        "(projects and their tasks) through the tools below: look things up, make the changes "
        "asked for, and end with finish."
    )

    def __init__(
        self,
        split: str = "train",
        render_mode: str | None = None,
        tasks: str | Path | None = None,
        start_state: str | Path | None = None,
    ):
        super().__init__(split=split, render_mode=render_mode)
        if (tasks is None) != (start_state is None):
            raise ValueError(
                "AgentGym's TODO tasks start from its projects.json: pass both tasks=<todo.jsonl> "
                "and start_state=<projects.json>, or neither for generated tasks"
            )
        self._records = load_records(str(tasks)) if tasks is not None else None
        self._start_projects = _load_json(str(start_state)) if start_state is not None else None
        self.store: TodoStore | None = None
        self._spec: TodoTaskSpec | None = None
        self._expected_state: dict[str, Any] | None = None

    # ------------------------------------------------------------- ToolEnv hooks
    def _new_task(self, task_id: int) -> tuple[str, list[PlanStep]]:
        spec, plan = _generated(task_id) if self._records is None else self._agentgym_task(task_id)
        self._spec = spec
        self.store = self.toolkit = _store(spec)
        self._expected_state = spec.final_state
        return spec.goal, list(plan)

    def _finish(self, args: dict[str, Any]) -> Outcome:
        answer = args.get("answer", "")
        if isinstance(answer, list):
            try:
                answer = sorted(answer)  # AgentGym's finish sorts a list answer
            except TypeError:
                pass
        solved = answers_match(answer, self._spec.answer) and self.store.state() == self._expected_state
        return Outcome(observe(answer), 1.0 if solved else 0.0, done=True)

    # ------------------------------------------------------------- AgentGym's tasks
    def _agentgym_task(self, task_id: int) -> tuple[TodoTaskSpec, list[PlanStep]]:
        record = self._records.get(task_id)
        if record is None:
            raise ValueError(
                f"the TODO tasks file has no task with id {task_id} (task ids: {_id_range(self._records)})"
            )
        info = record["additional_info"]
        config = info.get("init_config") or {}
        spec = TodoTaskSpec(
            goal=record["goal"].strip(),
            projects=self._start_projects,
            current_date=config.get("current_date", "2015-06-01"),
            current_location=config.get("current_location", "New York"),
            answer=record["subgoals"][0] if record.get("subgoals") else "done",
            final_state=info["answer"],
        )
        key = (id(self._records), task_id)
        if key not in _REPLAY_PLANS:  # the diff of start and expected state, worked out once
            _REPLAY_PLANS[key] = replay_plan(_store(spec), spec, self.max_rounds)
        return spec, _REPLAY_PLANS[key]


# ------------------------------------------------------------------------------ files
@lru_cache(maxsize=8)
def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _id_range(records: dict[int, Any]) -> str:
    return f"{min(records)}..{max(records)}" if records else "none"


def _store(spec: TodoTaskSpec) -> TodoStore:
    return TodoStore(spec.projects, spec.current_date, spec.current_location)


_REPLAY_PLANS: dict[tuple[int, int], list[PlanStep]] = {}


@lru_cache(maxsize=1024)
def _generated(task_id: int) -> tuple[TodoTaskSpec, tuple[PlanStep, ...]]:
    """A generated task with its expected final state (kept: making one runs the whole plan)."""
    spec, plan = generated_task(task_id)
    final = _state_after(spec, plan)
    return TodoTaskSpec(
        spec.goal, spec.projects, spec.current_date, spec.current_location, spec.answer, final
    ), tuple(plan)


def _state_after(spec: TodoTaskSpec, plan: list[PlanStep]) -> dict[str, Any]:
    """The final state a generated task expects: its start with the expert's changes made."""
    store = _store(spec)
    for step in plan:
        if step.tool in _CHANGES:
            getattr(store, step.tool)(**step.args)
    return store.state()


# ------------------------------------------------------------------------------ experts
def _look_at(store: TodoStore, projects: list, why: str) -> list[PlanStep]:
    """get_projects, then get_tasks of each project named (in account order, once each)."""
    steps = [PlanStep(f"{why} First I need the project ids.", "get_projects")]
    seen = set()
    for project in store.projects:
        if project in projects and project.id not in seen:
            seen.add(project.id)
            steps.append(
                PlanStep(
                    f"Project {project.name} has id {project.id}; I list its tasks.",
                    "get_tasks",
                    {"project_id": project.id},
                )
            )
    return steps


def replay_plan(store: TodoStore, spec: TodoTaskSpec, max_rounds: int) -> list[PlanStep]:
    """The expert for one of AgentGym's tasks: it knows the expected final state and answer.
    It reads every project's tasks, makes the changes that turn the start into the expected
    state, and answers."""
    changes = _changes_to(store, spec.final_state, spec.goal)
    lookups = [PlanStep("I check today's date first.", "get_user_current_date")] if changes else []
    lookups += _look_at(store, store.projects, "I need to see the projects and their tasks.")
    finish = PlanStep(
        f"I have what the task asks for, so I finish with {spec.answer!r}.", "finish", {"answer": spec.answer}
    )
    if len(lookups) + len(changes) + 1 > max_rounds:
        lookups = lookups[: max(1, max_rounds - len(changes) - 1)]
    return lookups + changes + [finish]


def _changes_to(store: TodoStore, expected: dict[str, Any], goal: str) -> list[PlanStep]:
    steps = []
    for project, want in zip(store.projects, expected["projects"]):
        if project.is_favorite != want["is_favorite"]:
            flag = "True" if want["is_favorite"] else "False"
            steps.append(
                PlanStep(
                    f"The goal asks to change the favourite mark of {project.name}.",
                    "update_project",
                    {"project_id": project.id, "is_favorite": flag},
                )
            )
    wanted = {t["content"]: t for t in expected["tasks"]}
    removes = (
        "delete_task" if any(w in goal.lower() for w in ("delete", "remove", "clear")) else "complete_task"
    )
    for task in store.active_tasks():
        want = wanted.get(task.content)
        if want is None:
            verb = "delete" if removes == "delete_task" else "mark as completed"
            steps.append(
                PlanStep(
                    f"{task.content} (id {task.id}) is one the goal asks me to {verb}.",
                    removes,
                    {"task_id": task.id},
                )
            )
        elif want["due_date"] != task.due_date:
            steps.append(
                PlanStep(
                    f"{task.content} must now be due on {want['due_date']}.",
                    "update_task",
                    {"task_id": task.id, "due_date": want["due_date"]},
                )
            )
    return steps


# ------------------------------------------------------------------------------ generated tasks
# name -> tasks (content, place, tip): the account a generated task draws its projects from.
CATALOGUE: dict[str, list[tuple[str, str, str]]] = {
    "Work Reports": [
        ("Draft the quarterly sales report", "Office, room 4B", "Start from last quarter's template."),
        ("Review the budget spreadsheet", "Office, room 4B", "Check the travel line twice."),
        ("Send meeting notes to the team", "Home office", "Keep it to one page."),
        ("Prepare slides for the Monday briefing", "Conference room A", "Ten slides at most."),
    ],
    "Home Renovation": [
        ("Buy paint for the bedroom", "Hardware store on Elm Street", "Take a photo of the wall colour."),
        ("Fix the leaking kitchen tap", "Kitchen", "Turn off the water under the sink first."),
        ("Call the electrician about the hallway light", "Phone", "Ask for a quote before booking."),
        ("Sand the old bookshelf", "Garage", "Wear a dust mask."),
    ],
    "Fitness Plan": [
        ("Run 5 km in the park", "Riverside Park", "Warm up for ten minutes."),
        ("Book a yoga class", "Community Centre", "Bring your own mat."),
        ("Swim 20 lengths", "City Pool", "Go before 8 am when lanes are free."),
        ("Stretch after the workout", "Home", "Hold each stretch for 30 seconds."),
    ],
    "Garden Care": [
        ("Water the tomato plants", "Back garden", "Water the soil, not the leaves."),
        ("Mow the front lawn", "Front yard", "Check the mower's fuel first."),
        ("Plant the tulip bulbs", "Flower bed by the fence", "Plant them pointy end up."),
    ],
    "Trip to Lisbon": [
        ("Book the flight", "Online", "Compare two airlines before paying."),
        ("Reserve a hotel near the old town", "Online", "Look for free cancellation."),
        ("Renew the travel insurance", "Insurance office", "Bring the old policy number."),
        ("Pack the suitcase", "Bedroom", "Leave room for souvenirs."),
    ],
    "Book Club": [
        ("Finish reading the chosen novel", "Library reading room", "Note two questions for the group."),
        ("Send the reminder email", "Home office", "Mention the new meeting time."),
        ("Bake cookies for the meeting", "Kitchen", "Make a batch without nuts."),
    ],
    "Car Maintenance": [
        ("Change the engine oil", "Garage on Main Road", "Ask for the synthetic oil."),
        ("Check the tyre pressure", "Petrol station", "Check them when the tyres are cold."),
        ("Renew the car registration", "Vehicle licensing office", "Bring proof of insurance."),
    ],
    "Birthday Party": [
        ("Order the birthday cake", "Bakery on Queen Street", "Chocolate, with no nuts."),
        ("Send the party invitations", "Home", "Ask guests to reply by Friday."),
        ("Decorate the living room", "Living room", "Balloons go up the evening before."),
        ("Buy a present for Sam", "Toy shop in the mall", "Keep the receipt."),
    ],
}
CITIES = ("New York", "London", "Toronto", "Sydney", "Berlin", "Singapore")
DURATIONS = (15, 20, 30, 45, 60, 90, 120)


def _generated_account(rng: random.Random) -> tuple[list[dict[str, Any]], dt.date]:
    today = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(700))
    names = rng.sample(sorted(CATALOGUE), rng.randint(3, 5))
    projects = []
    for name in names:
        picked = rng.sample(CATALOGUE[name], rng.randint(2, min(4, len(CATALOGUE[name]))))
        tasks = [
            {
                "content": content,
                "description": f"- Place: {place}\n- Tips: {tip}",
                "due_date": (today + dt.timedelta(days=rng.randint(-6, 20))).isoformat(),
                "duration": rng.choice(DURATIONS),
                "duration_unit": "minute",
                "priority": rng.randint(1, 4),
            }
            for content, place, tip in picked
        ]
        projects.append({"name": name, "is_favorite": False, "tasks": tasks})
    return projects, today


def generated_task(task_id: int) -> tuple[TodoTaskSpec, list[PlanStep]]:
    """Task ``task_id`` of the generated set: an account, a question in AgentGym's styles, the
    expert's plan. A question that does not fit the account (nothing overdue, too many steps)
    is redrawn."""
    rng = random.Random(0x746F646F * 1_000_003 + task_id)
    projects, today = _generated_account(rng)
    spec = TodoTaskSpec("", projects, today.isoformat(), rng.choice(CITIES), None, None)
    store = _store(spec)
    while True:
        question = QUESTIONS[rng.randrange(len(QUESTIONS))]
        made = question(store, rng, today)
        if made is not None and len(made[2]) <= 12:
            goal, answer, plan = made
            return TodoTaskSpec(goal, projects, spec.current_date, spec.current_location, answer, None), plan


def _finish(answer: Any, why: str) -> PlanStep:
    return PlanStep(why, "finish", {"answer": answer})


def _pick_task(store: TodoStore, rng: random.Random):
    task = rng.choice(store.active_tasks())
    return task, store.project(task.project_id)


def _q_due_date(store, rng, today):
    task, project = _pick_task(store, rng)
    goal = (
        f"When is the due date of {task.content} in {project.name}? Please provide the answer in the "
        "YYYY-MM-DD format."
    )
    plan = _look_at(store, [project], f"I need the due date of {task.content}.")
    return goal, task.due_date, plan + [_finish(task.due_date, f"{task.content} is due on {task.due_date}.")]


def _q_complete(store, rng, today):
    task, project = _pick_task(store, rng)
    goal = f"I have finished the task {task.content}, please mark it as completed."
    plan = _look_at(store, [project], f"I need the id of {task.content}.")
    plan.append(
        PlanStep(
            f"{task.content} has id {task.id}; I mark it completed.", "complete_task", {"task_id": task.id}
        )
    )
    return goal, "done", plan + [_finish("done", "The task is completed.")]


def _q_extend(store, rng, today):
    task, project = _pick_task(store, rng)
    days = rng.randint(1, 5)
    new = (dt.date.fromisoformat(task.due_date) + dt.timedelta(days=days)).isoformat()
    goal = (
        f"I cannot finish {task.content} in time, please extend its due date by {days} "
        f"day{'s' if days > 1 else ''}."
    )
    plan = _look_at(store, [project], f"I need the id and due date of {task.content}.")
    plan.append(
        PlanStep(
            f"It is due on {task.due_date}; {days} days later is {new}.",
            "update_task",
            {"task_id": task.id, "due_date": new},
        )
    )
    return goal, "done", plan + [_finish("done", "The due date is moved.")]


def _q_which_first(store, rng, today):
    first, second = rng.sample(store.active_tasks(), 2)
    if first.due_date == second.due_date:
        return None
    earlier = min(first, second, key=lambda t: t.due_date)
    goal = f"Which task should I do first to avoid missing the deadline? {first.content} or {second.content}?"
    projects = [store.project(first.project_id), store.project(second.project_id)]
    plan = _look_at(store, projects, "I compare the two due dates.")
    return (
        goal,
        earlier.content,
        plan + [_finish(earlier.content, f"{earlier.content} is due first ({earlier.due_date}).")],
    )


def _q_before_date(store, rng, today):
    project = rng.choice(store.projects)
    cutoff = (today + dt.timedelta(days=rng.randint(3, 12))).isoformat()
    names = sorted(t.content for t in store.active_tasks(project) if t.due_date < cutoff)
    if not names:
        return None
    goal = (
        f"What tasks in the {project.name} project are due before {cutoff}? Please answer in the form "
        "of a list ['task1', 'task2', ...]."
    )
    plan = _look_at(store, [project], f"I need the due dates in {project.name}.")
    return goal, names, plan + [_finish(names, f"These are due before {cutoff}.")]


def _q_overdue_count(store, rng, today):
    count = sum(t.due_date < store.current_date for t in store.active_tasks())
    goal = "Until today, how many tasks are overdue? Please give me a number as an answer."
    plan = [PlanStep("I need today's date to tell what is overdue.", "get_user_current_date")]
    plan += _look_at(store, store.projects, "Then every task's due date.")
    return goal, count, plan + [_finish(count, f"{count} tasks are due before {store.current_date}.")]


def _q_duration(store, rng, today):
    task, project = _pick_task(store, rng)
    answer = f"{task.duration}({task.duration_unit})"
    goal = (
        f"How long is the task {task.content} expected to take? Please answer in the format 'number(unit)'."
    )
    plan = _look_at(store, [project], f"I need the id of {task.content}.")
    plan.append(
        PlanStep(f"I read the duration of task {task.id}.", "get_task_duration", {"task_id": task.id})
    )
    return goal, answer, plan + [_finish(answer, f"It takes {answer}.")]


def _q_place(store, rng, today):
    task, project = _pick_task(store, rng)
    place = task.description.split("\n")[0].removeprefix("- Place: ")
    goal = f"Where do I need to go for the task {task.content}? Please answer with the place as a string."
    plan = _look_at(store, [project], f"I need the id of {task.content}.")
    plan.append(
        PlanStep(
            f"The place is in the description of task {task.id}.",
            "get_task_description",
            {"task_id": task.id},
        )
    )
    return goal, place, plan + [_finish(place, f"The description gives the place: {place}.")]


def _q_favorite(store, rng, today):
    task, project = _pick_task(store, rng)
    goal = f"Please mark the project that includes the task {task.content} as a favorite."
    upto = store.projects[: store.projects.index(project) + 1]
    plan = _look_at(store, upto, f"I look for the project that holds {task.content}.")
    plan.append(
        PlanStep(
            f"{task.content} is in {project.name}; I mark it favourite.",
            "update_project",
            {"project_id": project.id, "is_favorite": "True"},
        )
    )
    return goal, "done", plan + [_finish("done", "The project is a favourite now.")]


def _q_count(store, rng, today):
    count = len(store.active_tasks())
    goal = "How many tasks are there in total? Please answer in the form of a number."
    plan = _look_at(store, store.projects, "I count the tasks of every project.")
    return goal, count, plan + [_finish(count, f"There are {count} tasks.")]


def _q_clear_expired(store, rng, today):
    expired = [t for t in store.active_tasks() if t.due_date < store.current_date]
    if not expired:
        return None
    goal = "Until today, some tasks have expired. Please help me delete all expired tasks."
    plan = [PlanStep("I need today's date to tell which tasks expired.", "get_user_current_date")]
    plan += _look_at(store, store.projects, "Then every task's due date.")
    plan += [
        PlanStep(
            f"{t.content} was due {t.due_date}, before today; I delete it.", "delete_task", {"task_id": t.id}
        )
        for t in expired
    ]
    return goal, "done", plan + [_finish("done", "Every expired task is deleted.")]


def _q_total_minutes(store, rng, today):
    project = rng.choice(store.projects)
    tasks = store.active_tasks(project)
    total = sum(t.duration for t in tasks)
    goal = (
        f"How many minutes in total are required to complete all tasks in the {project.name} project? "
        "Please answer with a number."
    )
    plan = _look_at(store, [project], f"I need the tasks of {project.name}.")
    plan += [
        PlanStep(f"I read the duration of {t.content}.", "get_task_duration", {"task_id": t.id})
        for t in tasks
    ]
    return goal, total, plan + [_finish(total, f"Together they take {total} minutes.")]


def _q_priority(store, rng, today):
    task, project = _pick_task(store, rng)
    goal = (
        f"What is the priority level of the task {task.content} in the {project.name} project? Please "
        "answer with a number."
    )
    plan = _look_at(store, [project], f"I need the tasks of {project.name}.")
    return goal, task.priority, plan + [_finish(task.priority, f"Its priority is {task.priority}.")]


def _q_urgent(store, rng, today):
    names = sorted(t.content for t in store.active_tasks() if t.priority == 4)
    if not names:
        return None
    goal = (
        "Which tasks have priority level 4 (urgent)? Please answer in the form of a list ['task1', "
        "'task2', ...]."
    )
    plan = _look_at(store, store.projects, "I check the priority of every task.")
    return goal, names, plan + [_finish(names, "These are the urgent ones.")]


QUESTIONS = (
    _q_due_date,
    _q_complete,
    _q_extend,
    _q_which_first,
    _q_before_date,
    _q_overdue_count,
    _q_duration,
    _q_place,
    _q_favorite,
    _q_count,
    _q_clear_expired,
    _q_total_minutes,
    _q_priority,
    _q_urgent,
)
