"""s.yaml: find it, read it with positions, resolve it as Serverless Devs does, order its resources.

    from agentctl.spec import find_spec_file, load_project
    project = load_project(find_spec_file(template, Path.cwd()), config=lookup)
    for resource in project.select(name): ...
"""

from agentctl.spec.project import Project, Resource, find_spec_file, load_project, resolve_outputs

__all__ = ["Project", "Resource", "find_spec_file", "load_project", "resolve_outputs"]
