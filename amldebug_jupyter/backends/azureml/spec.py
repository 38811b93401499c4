"""Read azureml v1 pipeline objects into the light spec (duck-typed: azureml is not imported)."""

from __future__ import annotations

from typing import Any

from amldebug_jupyter.core.pipeline import Pipeline, Step
from amldebug_jupyter.errors import SpecError

PLAIN = (str, int, float, bool)


def from_azureml(obj: Any, name: str = "pipeline") -> Pipeline:
    """Read an azureml v1 ``Pipeline`` or a list of ``PythonScriptStep`` into the light spec.

    Each step keeps its ``PythonScriptStep`` as ``origin``; arguments that are not plain values
    (``PipelineData``, ``PipelineParameter``) are shown by their string form here and passed
    through untouched by the Azure backend.
    """
    steps_obj = obj
    if not isinstance(obj, (list, tuple)):
        builder = getattr(obj, "_graph_builder", None)
        step2node = getattr(builder, "_step2node", None)
        if step2node is None:
            raise SpecError(f"Cannot read the steps of {type(obj).__name__}: pass the list of PythonScriptStep instead.")
        steps_obj = list(step2node)
        name = getattr(obj, "_name", None) or name
    steps = []
    for s in steps_obj:
        if not hasattr(s, "_script_name"):
            raise SpecError(f"{type(s).__name__} is not a PythonScriptStep: only script steps can be debugged.")
        arguments = list(s._arguments or ())
        remote_only = [
            f"argument {a} ({type(a).__name__}) only exists on Azure ML; run it with --backend azureml"
            for a in arguments
            if not isinstance(a, PLAIN)
        ]
        steps.append(
            Step(
                name=s.name,
                script=s._script_name,
                source_directory=s._source_directory or ".",
                arguments=arguments,
                origin=s,
                remote_only=remote_only,
            )
        )
    return Pipeline(name, steps)


def is_azureml_object(obj: Any) -> bool:
    """A v1 Pipeline, or a non-empty list of azureml steps (checked without importing azureml)."""
    items = obj if isinstance(obj, (list, tuple)) and obj else [obj]
    return all(type(i).__module__.startswith("azureml.") for i in items)
