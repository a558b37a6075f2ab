"""A LangChain agent on AgentRun: an AgentRun model, a code-interpreter sandbox as a tool, and
the AgentRun SDK's server for an OpenAI-compatible API (POST /openai/v1/chat/completions).

Fill in MODEL_NAME and SANDBOX_NAME (names of resources you created in the AgentRun console),
or set them as environment variables. Run locally:

    pip install -r requirements.txt && python3 app.py
    curl 127.0.0.1:9000/openai/v1/chat/completions -H 'content-type: application/json' \\
      -d '{"messages": [{"role": "user", "content": "What time is it? Use code."}], "stream": true}'
"""

from __future__ import annotations

import os
from typing import Any

from agentrun.integration.langchain import model, sandbox_toolset
from agentrun.integration.langgraph.agent_converter import AgentRunConverter
from agentrun.sandbox import TemplateType
from agentrun.server import AgentRequest, AgentRunServer
from agentrun.utils.log import logger
from langchain.agents import create_agent

MODEL_NAME = os.getenv("MODEL_NAME", "<your-model-name>")
SANDBOX_NAME = os.getenv("SANDBOX_NAME", "<your-sandbox-name>")


def filled_in(name: str) -> bool:
    return bool(name) and not name.startswith("<")


if not filled_in(MODEL_NAME):
    raise SystemExit("Set MODEL_NAME in app.py (or the environment) to a model you created in AgentRun.")

tools: list[Any] = []
if filled_in(SANDBOX_NAME):
    tools += sandbox_toolset(
        template_name=SANDBOX_NAME,
        template_type=TemplateType.CODE_INTERPRETER,
        sandbox_idle_timeout_seconds=300,
    )
else:
    logger.warning("SANDBOX_NAME is not set: the agent runs without the code-interpreter tool.")

agent = create_agent(
    model=model(MODEL_NAME),
    tools=tools,
    system_prompt="You are a helpful assistant. Run Python in the sandbox when code answers best.",
)


async def invoke_agent(request: AgentRequest) -> Any:
    state = {"messages": [{"role": m.role, "content": m.content} for m in request.messages]}
    if not request.stream:
        result = await agent.ainvoke(state)
        return result["messages"][-1].content

    async def events() -> Any:
        converter = AgentRunConverter()
        async for event in agent.astream_events(state, version="v2"):
            for item in converter.convert(event):
                yield item

    return events()


def listen_address() -> tuple[str, int]:
    """$HOST, else 0.0.0.0 in a cloud instance and 127.0.0.1 on your machine; $PORT, default 9000."""
    host = os.getenv("HOST") or ("0.0.0.0" if os.getenv("FC_INSTANCE_ID") else "127.0.0.1")
    port = os.getenv("PORT") or os.getenv("FC_SERVER_PORT") or os.getenv("AGENTRUN_PORT") or "9000"
    return host, int(port)


if __name__ == "__main__":
    host, port = listen_address()
    AgentRunServer(invoke_agent=invoke_agent).start(host=host, port=port)
