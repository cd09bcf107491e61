"""A local Todoist: projects and tasks behind the TODOList tools, in memory.

It answers as AgentGym's ``todo_tools`` does after it strips Todoist's replies (projects as
``{'id', 'order', 'color', 'name', 'is_favorite'}``, tasks as ``{'id', 'order', 'content',
'is_completed', 'priority', 'due_date'}``), and like Todoist it lists only active tasks: a
completed or deleted task leaves the listings. :meth:`TodoStore.state` is AgentGym's
``get_todo_status`` (every project and active task, without ids), the final state a task is
scored on. Ids are made from positions, so the same start gives the same ids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from agentgym_envs.envs.tools.base import ToolError

PROJECT_ID_BASE = 2_203_306_141  # Todoist-like long numeric ids, as strings
TASK_ID_BASE = 7_311_250_000


@dataclass
class TodoTask:
    id: str
    project_id: str
    order: int
    content: str
    description: str
    due_date: str
    duration: int
    duration_unit: str
    priority: int
    is_completed: bool = False
    deleted: bool = False

    @property
    def active(self) -> bool:
        return not (self.is_completed or self.deleted)

    def listing(self, with_completed: bool = True) -> dict[str, Any]:
        item = {"id": self.id, "order": self.order, "content": self.content}
        if with_completed:
            item["is_completed"] = self.is_completed
        item.update(priority=self.priority, due_date=self.due_date)
        return item


@dataclass
class TodoProject:
    id: str
    order: int
    name: str
    color: str = "charcoal"
    is_favorite: bool = False

    def listing(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "order": self.order,
            "color": self.color,
            "name": self.name,
            "is_favorite": self.is_favorite,
        }


class TodoStore:
    """Projects and tasks of one episode. ``projects`` is AgentGym's ``projects.json`` layout:
    ``[{name, is_favorite?, tasks: [{content, description, due_date, duration, duration_unit,
    priority}]}]``."""

    def __init__(self, projects: list[dict[str, Any]], current_date: str, current_location: str):
        self.current_date = current_date
        self.current_location = current_location
        self.projects: list[TodoProject] = []
        self.tasks: list[TodoTask] = []
        for p_index, spec in enumerate(projects):
            project = TodoProject(
                id=str(PROJECT_ID_BASE + 1013 * (p_index + 1)),
                order=p_index + 1,  # Todoist's Inbox is order 0 and is never listed
                name=spec["name"],
                is_favorite=bool(spec.get("is_favorite", False)),
            )
            self.projects.append(project)
            for t_index, task in enumerate(spec["tasks"]):
                self.tasks.append(
                    TodoTask(
                        id=str(TASK_ID_BASE + 10_007 * (p_index + 1) + 37 * (t_index + 1)),
                        project_id=project.id,
                        order=t_index + 1,
                        content=task["content"],
                        description=task.get("description", ""),
                        due_date=task["due_date"],
                        duration=int(task["duration"]),
                        duration_unit=task.get("duration_unit", "minute"),
                        priority=int(task["priority"]),
                    )
                )

    # ------------------------------------------------------------------ look-ups
    def project(self, project_id: str) -> TodoProject:
        for project in self.projects:
            if project.id == str(project_id):
                return project
        raise ToolError(f"Project {project_id} does not exist.")

    def task(self, task_id: str) -> TodoTask:
        for task in self.tasks:
            if task.id == str(task_id) and task.active:
                return task
        raise ToolError(f"Task {task_id} does not exist.")

    def project_named(self, name: str) -> TodoProject:
        return next(p for p in self.projects if p.name == name)

    def task_named(self, content: str) -> TodoTask:
        return next(t for t in self.tasks if t.content == content and t.active)

    def active_tasks(self, project: TodoProject | None = None) -> list[TodoTask]:
        return [t for t in self.tasks if t.active and (project is None or t.project_id == project.id)]

    # ------------------------------------------------------------------ the tools
    def get_user_current_date(self) -> str:
        return self.current_date

    def get_user_current_location(self) -> str:
        return self.current_location

    def get_projects(self) -> list[dict[str, Any]]:
        return [p.listing() for p in self.projects]

    def update_project(self, project_id: str, is_favorite: str) -> dict[str, Any]:
        project = self.project(project_id)
        flag = str(is_favorite).strip().lower()
        if flag not in ("true", "false"):
            raise ToolError("is_favorite must be 'True' or 'False'.")
        project.is_favorite = flag == "true"
        return {"message": "Update the project successfully.", "project": project.listing()}

    def get_tasks(self, project_id: str) -> list[dict[str, Any]]:
        return [t.listing() for t in self.active_tasks(self.project(project_id))]

    def get_task_description(self, task_id: str) -> dict[str, Any]:
        task = self.task(task_id)
        return {"id": task.id, "content": task.content, "description": task.description}

    def get_task_duration(self, task_id: str) -> dict[str, Any]:
        task = self.task(task_id)
        return {"id": task.id, "content": task.content, "duration": f"{task.duration}({task.duration_unit})"}

    def complete_task(self, task_id: str) -> dict[str, Any]:
        task = self.task(task_id)
        task.is_completed = True
        return {"message": "Complete task successfully.", "task": task.listing(with_completed=False)}

    def update_task(self, task_id: str, due_date: str) -> dict[str, Any]:
        task = self.task(task_id)
        try:
            dt.date.fromisoformat(str(due_date).strip())
        except ValueError:
            raise ToolError(f"due_date must be a date written YYYY-MM-DD, not {due_date!r}.") from None
        task.due_date = str(due_date).strip()
        return {"message": "Update the task successfully", "task": task.listing()}

    def delete_task(self, task_id: str) -> dict[str, Any]:
        task = self.task(task_id)
        task.deleted = True
        return {"message": "Delete the task successfully.", "task": task.listing()}

    # ------------------------------------------------------------------ scoring
    def state(self) -> dict[str, list[dict[str, Any]]]:
        """AgentGym's ``get_todo_status``: projects and active tasks, ids left out."""
        projects = [{k: v for k, v in p.listing().items() if k != "id"} for p in self.projects]
        tasks = [
            {k: v for k, v in t.listing().items() if k != "id"}
            for p in self.projects
            for t in self.active_tasks(p)
        ]
        return {"projects": projects, "tasks": tasks}
