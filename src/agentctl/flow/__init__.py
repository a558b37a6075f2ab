"""Flows: sequential, parallel, loop and LLM-routing compositions of agents, written in s.yaml.

A flow is a resource of its own component, deployed as an agent runtime whose code is agentctl's
flow runner (``agentctl.flow.runner``) plus the resolved flow (``agentctl.flow.resolved``)::

    resources:
      pipeline:
        component: agentctl-flow        # also accepted: agentctl-flow@<version>
        props:
          region: cn-hangzhou
          agent:                        # agentrun's agent fields, without code / customContainerConfig
            name: research-flow
            instanceConcurrency: 20
            environmentVariables: {DASHSCOPE_API_KEY: "${env('DASHSCOPE_API_KEY')}"}
            endpoints: [{name: production, version: LATEST}]
          flow:
            name: research              # default: the resource's agent.name; the root node's default name
            description: ...
            env: {TONE: formal}         # defaults for {{ env.X }}; the instance's environment overrides them
            timeout: 300                # seconds for a whole run (default 300)
            root: <node>

Every node has ``type`` and may have ``name`` (unique among siblings; default: the resource for
runtime nodes, else ``<type><position>``), ``description``, ``outputKey`` (default: the name;
where ``state.<key>`` finds its output), ``timeout`` (seconds per attempt; agents default 60) and
``retries`` (0–10). The types:

    sequential  agents: [<node>, ...]            children in order; each one's output is the next one's input
    parallel    agents: [2–10 nodes]             at once; unique outputKeys; maxConcurrency: N;
                merge: map | list | concat       (default map); separator (concat, default a blank line);
                mergeOutputKey (= outputKey);    onError: fail (default) | report
    loop        agent: <node> and exactly one of
                  count: N                       1–1000 iterations, each on the previous one's output
                  until: <condition>             after each iteration; maxIterations: N ends it normally,
                                                 without it 1000 iterations fail: "Max loop count reached"
                  forEach: <expression>          a list, or text holding a JSON array (e.g. last.content):
                                                 once per element (loop.item, loop.index); outputs the list
    route       model, baseUrl, apiKeyEnv, headers, temperature (default 0), instruction,
                agents: [nodes with a description], multiple: false | true (picks merged as parallel),
                pickRetries: N (default 2), fallback: <node>, and parallel's merge fields
    runtime     resource: <another resource of this s.yaml>, endpoint (default "default"),
                path (default /openai/v1/chat/completions), headers, input; ``url`` is filled by deploy
    openai      baseUrl (OpenAI-compatible, e.g. https://host/v1), model, apiKeyEnv, headers, input
    llm         baseUrl, model, apiKeyEnv (the variable's *name*: the key stays out of the code package),
                system, temperature, headers, input

``input`` (default ``{{ last.content }}``), ``system`` and header values are templates; ``until`` and
``forEach`` are expressions — one small form, documented in ``agentctl.flow.expr`` (``sys.query``,
``sys.conversation_id``, ``sys.user_id``, ``state.<key>``, ``env.X``, ``last.content``,
``last.json``, ``loop.index``, ``loop.item``, ``inputs.x``; ``==`` ``!=`` ``<`` ``<=`` ``>`` ``>=``
``contains``, ``and``/``or``/``not``). Agents get one user message (their rendered input), after
the system prompt for ``llm``. How runs behave: ``executor``, ``branches``; protocols:
``protocols``; the log trace: ``trace``; Dify DSL import: ``dify``.

The API used by the rest of agentctl (small on purpose)::

    check_flow(props["flow"], where=("resources", name, "props", "flow")) -> list[FlowIssue]   # verify
    parse_flow(props["flow"], where=..., default_name=agent_name) -> Flow      # or FlowSpecError
    runtime_refs(flow) -> [RuntimeRef(resource, endpoint, where)]              # deploy: exists? order first
    bind_runtime_urls(props["flow"], url_of) -> dict; resolved_document(bound) -> the flow.json content
    runner_files() -> [(name in the zip, file)]; RUNNER_COMMAND; FLOW_FILE
"""

from agentctl.flow.fields import FlowIssue, FlowSpecError
from agentctl.flow.model import Flow, RuntimeRef, runtime_refs
from agentctl.flow.parse import check_flow, parse_flow
from agentctl.flow.resolved import FLOW_FILE, RUNNER_COMMAND, bind_runtime_urls, resolved_document, runner_files

COMPONENT = "agentctl-flow"


def is_flow(component: object) -> bool:
    """``agentctl-flow`` or ``agentctl-flow@<version>``: the component of a flow resource."""
    return isinstance(component, str) and (component == COMPONENT or component.startswith(COMPONENT + "@"))


__all__ = [
    "COMPONENT",
    "FLOW_FILE",
    "RUNNER_COMMAND",
    "Flow",
    "FlowIssue",
    "FlowSpecError",
    "RuntimeRef",
    "bind_runtime_urls",
    "check_flow",
    "is_flow",
    "parse_flow",
    "resolved_document",
    "runner_files",
    "runtime_refs",
]
