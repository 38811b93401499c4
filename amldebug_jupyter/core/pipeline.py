"""The light pipeline description: what to run, where the code is, which steps wait for a debugger.

It needs no Azure SDK, so the same notebook can target the local backend anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from amldebug_jupyter.errors import SpecError


@dataclass(frozen=True)
class Step:
    """One script run with its arguments from a copy of ``source_directory``.

    ``script`` is relative to ``source_directory``, as ``PythonScriptStep.script_name`` is.
    """

    name: str
    script: str
    source_directory: str | os.PathLike[str] = "."
    arguments: Sequence[Any] = ()
    debug: bool = False
    origin: Any = field(default=None, compare=False, repr=False)
    """The service's own step object this step was read from (its backend rewrites it)."""
    remote_only: Sequence[str] = field(default=(), compare=False)
    """Why some arguments have no value off the service the step was written for (one line each):
    a backend that runs the step elsewhere refuses it with these reasons."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_directory", os.fspath(self.source_directory))
        object.__setattr__(self, "arguments", tuple(str(a) for a in self.arguments))
        object.__setattr__(self, "remote_only", tuple(self.remote_only))

    @property
    def source_path(self) -> Path:
        """Absolute source directory (resolved now, so later ``chdir`` cannot move it)."""
        return Path(self.source_directory).expanduser().resolve()

    @property
    def script_path(self) -> Path:
        return self.source_path / self.script

    def validate(self) -> None:
        """Raise :class:`SpecError` with one actionable line when the step cannot run."""
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise SpecError(f"Step name {self.name!r} is not usable: use letters, digits, '-' or '_'.")
        if not self.source_path.is_dir():
            raise SpecError(f"Step '{self.name}': source_directory {self.source_directory!r} does not exist.")
        if Path(self.script).is_absolute():
            raise SpecError(f"Step '{self.name}': script {self.script!r} must be relative to its source_directory.")
        if not self.script_path.is_file():
            raise SpecError(f"Step '{self.name}': script {self.script!r} not found in {self.source_path}.")


@dataclass(frozen=True)
class Pipeline:
    """Steps run in order; a failed step stops the ones after it."""

    name: str
    steps: Sequence[Step] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise SpecError(f"No step named {name!r} in pipeline '{self.name}' (steps: {self.step_names()}).")

    def step_names(self) -> str:
        return ", ".join(s.name for s in self.steps) or "none"

    def validate(self) -> None:
        if not self.steps:
            raise SpecError(f"Pipeline '{self.name}' has no steps.")
        seen: set[str] = set()
        for s in self.steps:
            if not isinstance(s, Step):
                raise SpecError(f"Pipeline '{self.name}': {s!r} is not an amldebug_jupyter.Step.")
            if s.name in seen:
                raise SpecError(f"Pipeline '{self.name}': step name '{s.name}' is used twice.")
            seen.add(s.name)
            s.validate()

    def with_debug(self, debug: bool | str | Iterable[str] | None) -> "Pipeline":
        """Return a copy whose debug flags follow ``debug`` (None keeps each step's own flag)."""
        if debug is None:
            return self
        if debug is True or debug == "all":
            chosen = {s.name for s in self.steps}
        elif debug is False:
            chosen = set()
        else:
            names = [debug] if isinstance(debug, str) else list(debug)
            chosen = {n.strip() for name in names for n in str(name).split(",") if n.strip()}
            for n in chosen:
                self.step(n)  # raises a clear SpecError for an unknown name
        return replace(self, steps=tuple(replace(s, debug=s.name in chosen) for s in self.steps))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> "Pipeline":
        """Load a pipeline; relative ``source_directory`` values are relative to the YAML file."""
        import yaml  # type: ignore[import-untyped]

        p = Path(path).expanduser()
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"Pipeline file {os.fspath(path)!r} does not exist.") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise SpecError(f"Pipeline file {os.fspath(path)!r} is not valid YAML{where}.") from None
        return cls.from_dict(data, base=p.resolve().parent, origin=os.fspath(path))

    @classmethod
    def from_dict(cls, data: Any, base: Path | None = None, origin: str = "pipeline") -> "Pipeline":
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise SpecError(f"{origin}: expected a mapping with 'name' and a list of 'steps'.")
        base = base or Path.cwd()
        steps = []
        allowed = {"name", "script", "source_directory", "arguments", "debug"}
        for i, raw in enumerate(data["steps"]):
            if not isinstance(raw, dict) or "name" not in raw or "script" not in raw:
                raise SpecError(f"{origin}: step #{i + 1} needs at least 'name' and 'script'.")
            unknown = set(raw) - allowed
            if unknown:
                raise SpecError(f"{origin}: step '{raw['name']}' has unknown keys: {sorted(unknown)}.")
            src = Path(str(raw.get("source_directory", "."))).expanduser()
            args = raw.get("arguments") or []
            if not isinstance(args, list):
                raise SpecError(f"{origin}: step '{raw['name']}': 'arguments' must be a list.")
            steps.append(
                Step(
                    name=str(raw["name"]),
                    script=str(raw["script"]),
                    source_directory=src if src.is_absolute() else base / src,
                    arguments=args,
                    debug=bool(raw.get("debug", False)),
                )
            )
        return cls(name=str(data.get("name") or "pipeline"), steps=steps)
