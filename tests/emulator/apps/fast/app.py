"""A fast aiohttp test agent for the gateway benchmark: small JSON at /, an SSE stream at /sse?n=N."""

import os

from aiohttp import web


async def small(request):
    return web.json_response({"ok": True, "answer": "hello"})


async def sse(request):
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for i in range(int(request.query.get("n", "10"))):
        await response.write(f"data: {i}\n\n".encode())
    await response.write_eof()
    return response


app = web.Application()
app.add_routes([web.get("/", small), web.get("/sse", sse), web.get("/health", small)])
web.run_app(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ["PORT"]), access_log=None,
            print=None)
