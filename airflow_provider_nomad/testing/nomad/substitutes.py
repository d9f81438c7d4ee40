"""Driver substitutions: how tasks of drivers the emulator cannot run still run offline.

A user's jobspec runs its tasks under ``docker``, ``podman``, ``java`` or ``exec2``, none of
which the emulator has. A test declares a *substitution*: the tasks it matches (by driver, and
by the ``image`` of their config, a shell-style glob) run as a local command or as a mock
behaviour instead. Placement treats a matched task as runnable on every node; a task nothing
matches is still filtered as ``missing drivers``, as on a real node without the driver, and the
emulator logs (and warns at registration) how to declare a substitution for it.

A command runs like a ``raw_exec`` task: an argv (``${NOMAD_...}`` interpolated) started in the
task directory with the task's environment, the host's minus Nomad's denylist, and the
substitution's ``env``; with ``append_args`` the task config's own ``args`` follow the argv.
A mock behaviour takes ``mock_driver``'s options (``run_for``, ``exit_code``,
``stdout_string``, ``stderr_string``...).
"""

from __future__ import annotations

import fnmatch
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("airflow_provider_nomad.testing")

#: The keys a declaration may carry; anything else is refused so a typo is not ignored.
FIELDS = frozenset({"id", "driver", "image", "command", "append_args", "env", "mock"})

#: mock_driver's options (``drivers/mock``); the same names as in a jobspec's ``config``.
MOCK_OPTIONS = frozenset(
    {
        "run_for",
        "exit_code",
        "exit_signal",
        "exit_err_msg",
        "start_error",
        "start_error_recoverable",
        "start_block_for",
        "kill_after",
        "stdout_string",
        "stdout_repeat",
        "stdout_repeat_duration",
        "stderr_string",
        "stderr_repeat",
        "stderr_repeat_duration",
    }
)


@dataclass(frozen=True)
class Substitution:
    """One declaration: which tasks, and what runs in their place.

    :param driver: the task driver it applies to (``docker``); empty for any driver.
    :param image: a glob on the task config's ``image``; empty for any image.
    :param command: the argv to run instead of the task.
    :param append_args: append the task config's ``args`` to ``command``.
    :param env: extra environment variables for ``command``.
    :param mock: ``mock_driver`` options to play instead of the task.
    """

    driver: str = ""
    image: str = ""
    command: tuple[str, ...] = ()
    append_args: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    mock: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Substitution:
        """Validate a declaration (control API body, CLI JSON, fixture keywords)."""
        if not isinstance(spec, Mapping):
            raise ValueError("a substitution is a JSON object")
        unknown = sorted(set(spec) - FIELDS)
        if unknown:
            raise ValueError(f"unknown substitution field(s) {unknown}; expected {sorted(FIELDS)}")
        driver = str(spec.get("driver") or "")
        image = str(spec.get("image") or "")
        if not driver and not image:
            raise ValueError("a substitution names a driver, an image, or both")
        command = spec.get("command") or []
        if isinstance(command, str) or not isinstance(command, list | tuple):
            raise ValueError("command is an argv: a list of strings")
        mock = dict(spec.get("mock") or {})
        bad = sorted(set(mock) - MOCK_OPTIONS)
        if bad:
            raise ValueError(f"unknown mock option(s) {bad}; expected {sorted(MOCK_OPTIONS)}")
        if bool(command) == bool(mock):
            raise ValueError("a substitution has either a command or a mock behaviour")
        env = spec.get("env") or {}
        if not isinstance(env, Mapping):
            raise ValueError("env is an object of strings")
        kwargs: dict[str, Any] = {}
        if spec.get("id"):
            kwargs["id"] = str(spec["id"])
        return cls(
            driver=driver,
            image=image,
            command=tuple(str(a) for a in command),
            append_args=bool(spec.get("append_args", False)),
            env={str(k): str(v) for k, v in env.items()},
            mock=mock,
            **kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "driver": self.driver,
            "image": self.image,
            "command": list(self.command),
            "append_args": self.append_args,
            "env": dict(self.env),
            "mock": dict(self.mock),
        }

    def matches(self, task: Mapping[str, Any]) -> bool:
        if self.driver and task.get("Driver") != self.driver:
            return False
        if self.image:
            image = (task.get("Config") or {}).get("image")
            return isinstance(image, str) and fnmatch.fnmatchcase(image, self.image)
        return True

    def describe(self) -> str:
        what = " ".join(filter(None, (self.driver and f"driver {self.driver}", self.image)))
        does = f"runs {list(self.command)}" if self.command else f"plays mock {dict(self.mock)}"
        return f"emulator substitution for {what}: {does}"

    def driver_and_config(self, task_config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The built-in driver that plays this substitution, and its config."""
        if self.mock:
            return "mock_driver", dict(self.mock)
        args = list(self.command[1:])
        if self.append_args:
            args += [str(a) for a in task_config.get("args") or []]
        return "raw_exec", {"command": self.command[0], "args": args}


class Substitutions:
    """The declared substitutions; the latest matching declaration wins.

    :param initial: declarations that survive a reset (the CLI's ``--substitute``).
    """

    def __init__(self, initial: Iterable[Substitution] = ()) -> None:
        self._initial = list(initial)
        self._declared = list(self._initial)

    def add(self, substitution: Substitution) -> Substitution:
        self._declared.append(substitution)
        return substitution

    def remove(self, substitution_id: str) -> bool:
        before = len(self._declared)
        self._declared = [s for s in self._declared if s.id != substitution_id]
        return len(self._declared) != before

    def reset(self) -> None:
        self._declared = list(self._initial)

    def all(self) -> list[Substitution]:
        return list(self._declared)

    def find(self, task: Mapping[str, Any]) -> Substitution | None:
        return next((s for s in reversed(self._declared) if s.matches(task)), None)


def unrunnable_tasks(
    job: Mapping[str, Any], drivers: Iterable[str], substitutions: Substitutions
) -> list[Mapping[str, Any]]:
    """Tasks of ``job`` that no node driver and no substitution can run."""
    have = set(drivers)
    return [
        task
        for group in job.get("TaskGroups") or []
        for task in group.get("Tasks") or []
        if task.get("Driver") not in have and substitutions.find(task) is None
    ]


def declaration_hint(task: Mapping[str, Any]) -> str:
    """How to declare a substitution for ``task``, in each of the three ways."""
    driver = task.get("Driver") or ""
    image = (task.get("Config") or {}).get("image")
    where = f'driver "{driver}"' + (f' (image "{image}")' if isinstance(image, str) else "")
    spec = f'"driver": "{driver}", ' + (f'"image": "{image}", ' if isinstance(image, str) else "")
    return (
        f'task "{task.get("Name")}" uses {where}, which the emulator cannot run; declare a '
        f"substitution: nomad_emulator.control.substitute(driver={driver!r}, command=[...]) "
        f"(or run_for=/exit_code=/stdout=), POST /_emulator/substitutions "
        f'{{{spec}"command": [...]}}, or serve --substitute FILE.json'
    )


def warn_unrunnable(
    job: Mapping[str, Any], drivers: Iterable[str], substitutions: Substitutions
) -> list[str]:
    """Log (and return) a hint for each task nothing can run."""
    hints = [declaration_hint(t) for t in unrunnable_tasks(job, drivers, substitutions)]
    for hint in hints:
        log.warning("job %r: %s", job.get("ID"), hint)
    return hints
