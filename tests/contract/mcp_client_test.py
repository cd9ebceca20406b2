"""POST /mcp against a live imgpipe, driven by the official MCP Python SDK
(PyPI `mcp`, in ops/venv: ops/pytools): both protocol revisions the server
speaks (the 2026-07-28 discover era through mcp.Client, the 2025-11-25
initialize handshake through ClientSession), every tool, and the errors:
a bad key, an anonymous caller reading, a refused import, malformed
JSON-RPC, an unknown tool, wrong argument types, oversized base64.

    ops/venv/bin/python tests/contract/mcp_client_test.py BUILD_DIR
"""

import asyncio
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import httpx2
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

TOOLS = {"create_image_from_url", "create_image_from_base64", "get_image", "list_images", "update_image",
         "delete_images", "get_usage", "image_url"}
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def png(width, height):
    """A real RGB PNG (a gradient), so the server's decoders see an image."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 7 % 256, y * 5 % 256, (x + y) % 256)) for y in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    return struct.unpack(">II", data[16:24])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One `imgpipe serve` on loopback with its own data dir."""

    def __init__(self, build, work, name, *extra):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(work, name + ".log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(build, "imgpipe"), "serve", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", os.path.join(work, name), "--public-url", self.base,
             "--token-secret", "mcp-test-token-secret-0123456789abcdef", "--log-level", "warn", *extra],
            stderr=self.log)

    def wait_ready(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the condition, bounded; not a fixed sleep
            if self.proc.poll() is not None:
                raise RuntimeError("imgpipe exited: " + open(self.log.name).read())
            try:
                if httpx2.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("imgpipe not ready in 60 s")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def structured(result):
    return result.structured_content or {}


def error_code(result):
    return structured(result).get("error", {}).get("code") if result.is_error else None


async def run_legacy(base, key, results):
    url = base + "/mcp"
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {key}"}) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                check(init.protocol_version == "2025-11-25", f"initialize negotiates 2025-11-25 (got {init.protocol_version})")
                check(init.server_info.name == "imgpipe", "serverInfo names imgpipe")
                tools = await session.list_tools()
                names = {t.name for t in tools.tools}
                check(names == TOOLS, f"tools/list lists every tool ({sorted(names)})")
                check(all(t.input_schema.get("type") == "object" and t.output_schema for t in tools.tools),
                      "every tool has an input and an output schema")
                await session.send_ping()

                # A key's own images: create (base64, with labels), get, list by label, update, usage,
                # image_url, delete (batch).
                image = png(64, 48)
                r = await session.call_tool("create_image_from_base64", {
                    "data": base64.b64encode(image).decode(), "filename": "key.png", "labels": {"suite": "mcp"}})
                check(not r.is_error, f"a key creates from base64 ({r.content[0].text[:200]})")
                img = structured(r)
                check(img.get("width") == 64 and img.get("height") == 48, "the created image has its dimensions")
                async with httpx2.AsyncClient() as web:
                    src = await web.get(img["url"])
                    check(src.status_code == 200 and png_size(src.content) == (64, 48), "its url serves the PNG, 64x48")
                r = await session.call_tool("get_image", {"id": img["id"]})
                check(not r.is_error and structured(r).get("id") == img["id"], "get_image finds it")
                r = await session.call_tool("list_images", {"labels": {"suite": "mcp"}, "limit": 10})
                ids = [i["id"] for i in structured(r).get("data", [])]
                check(not r.is_error and img["id"] in ids, "list_images by label lists it")
                r = await session.call_tool("list_images", {"labels": {"suite": "other"}, "limit": 10})
                check(not r.is_error and img["id"] not in [i["id"] for i in structured(r).get("data", [])],
                      "list_images by another label leaves it out")
                r = await session.call_tool("update_image", {"id": img["id"], "caption": "a gradient"})
                check(not r.is_error and structured(r).get("caption") == "a gradient", "update_image sets the caption")
                r = await session.call_tool("get_usage", {})
                check(not r.is_error and structured(r).get("object") == "usage", "get_usage answers the usage")
                r = await session.call_tool("image_url", {"id": img["id"], "size": "s", "format": "png"})
                check(not r.is_error, "image_url answers")
                async with httpx2.AsyncClient() as web:
                    small = await web.get(structured(r)["url"])
                    w, h = png_size(small.content)
                    check(small.status_code == 200 and min(w, h) <= 320, f"image_url's URL serves a PNG ({w}x{h})")
                r = await session.call_tool("image_url", {"id": img["id"], "size": "social", "format": "png"})
                check(not r.is_error and structured(r).get("size") == "social", "image_url answers a social card")
                async with httpx2.AsyncClient() as web:
                    card = await web.get(structured(r)["url"])
                    check(card.status_code == 200 and png_size(card.content) == (1200, 630),
                          f"image_url's social URL serves a 1200x630 card ({png_size(card.content)})")
                r = await session.call_tool("image_url", {"id": img["id"], "w": 32, "h": 32, "fit": "crop",
                                                          "format": "png"})
                check(not r.is_error, "image_url answers a fit")
                async with httpx2.AsyncClient() as web:
                    cut = await web.get(structured(r)["url"])
                    check(cut.status_code == 200 and png_size(cut.content) == (32, 32),
                          f"image_url's w/h/fit URL serves a 32x32 crop ({png_size(cut.content)})")
                r = await session.call_tool("image_url", {"id": img["id"], "w": 0})
                check(r.is_error, "image_url refuses w=0 by its schema")
                r = await session.call_tool("delete_images", {"ids": [img["id"]]})
                deleted = structured(r).get("data", [])
                check(not r.is_error and deleted and deleted[0].get("deleted") is True, "delete_images deletes it")
                r = await session.call_tool("get_image", {"id": img["id"]})
                check(error_code(r) == "not_found", f"a deleted image is not_found ({error_code(r)})")

                # Wrong argument types and unknown tools.
                r = await session.call_tool("get_image", {"id": 5})
                check(error_code(r) == "validation_error", f"a number for a string argument is validation_error ({error_code(r)})")
                r = await session.call_tool("list_images", {"limit": "ten"})
                check(error_code(r) == "validation_error", "a string for an integer argument is validation_error")
                r = await session.call_tool("get_image", {"id": "x", "extra": 1})
                check(error_code(r) == "validation_error", "an unknown argument is validation_error")
                r = await session.call_tool("create_image_from_base64", {"data": "not base64!!"})
                check(error_code(r) == "validation_error", "data that is not base64 is validation_error")
                try:
                    await session.call_tool("no_such_tool", {})
                    check(False, "an unknown tool is a JSON-RPC error")
                except MCPError as e:
                    check(e.code == -32602, f"an unknown tool is a JSON-RPC error -32602 ({e.code})")
                results["key_image"] = img


async def run_modern(base, results):
    """The 2026-07-28 revision: mcp.Client probes server/discover and adopts it (anonymous)."""
    async with Client(base + "/mcp") as client:
        check(client.protocol_version == "2026-07-28", f"mcp.Client negotiates 2026-07-28 (got {client.protocol_version})")
        tools = await client.list_tools()
        check({t.name for t in tools.tools} == TOOLS, "tools/list at 2026-07-28")
        image = png(40, 30)
        r = await client.call_tool("create_image_from_base64", {"data": base64.b64encode(image).decode()})
        check(not r.is_error, "anonymous creates from base64 at 2026-07-28")
        img = structured(r)
        check(img.get("width") == 40 and img.get("height") == 30 and img.get("public") is True,
              "an anonymous image has its dimensions and is public")
        r = await client.call_tool("image_url", {"id": img["id"], "format": "webp"})
        async with httpx2.AsyncClient() as web:
            f = await web.get(structured(r)["url"])
            check(f.status_code == 200 and f.content[:4] == b"RIFF" and f.content[8:12] == b"WEBP", "image_url webp is a WebP")
        r = await client.call_tool("get_image", {"id": img["id"]})
        check(error_code(r) == "unauthorized", f"anonymous may not read: unauthorized ({error_code(r)})")
        check("Action" in r.content[0].text, "the tool error's text carries the action")
        r = await client.call_tool("create_image_from_url", {"url": "http://127.0.0.1:1/private.png"})
        check(error_code(r) == "import_forbidden", f"a private URL is refused: import_forbidden ({error_code(r)})")
        results["anon_image"] = img


async def run_read_only(base, key):
    """A key with only the read ability may read but not write."""
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {key}"}) as http:
        async with streamable_http_client(base + "/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                r = await session.call_tool("get_usage", {})
                check(not r.is_error, "a read-only key reads its usage")
                r = await session.call_tool("create_image_from_base64", {"data": base64.b64encode(png(8, 8)).decode()})
                check(error_code(r) == "forbidden", f"a read-only key writing is forbidden ({error_code(r)})")
                r = await session.call_tool("delete_images", {"ids": ["AAAAAAAAAAAA"]})
                check(error_code(r) == "forbidden", f"a read-only key deleting is forbidden ({error_code(r)})")


async def run_errors(base):
    # A bad key: every tool that calls the API answers unauthorized.
    async with create_mcp_http_client(headers={"Authorization": "Bearer img_live_notakey000000000000"}) as http:
        async with streamable_http_client(base + "/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                r = await session.call_tool("create_image_from_base64", {"data": base64.b64encode(png(8, 8)).decode()})
                check(error_code(r) == "unauthorized", f"a bad key is unauthorized ({error_code(r)})")
                check(structured(r)["error"]["action"].get("type") == "signup", "with the signup action (shape C)")

    # Oversized base64 (this server: 1 MB anonymous files). Just over the
    # file limit: the upload's own limit answers a tool error.
    async with Client(base + "/mcp") as client:
        big = png(8, 8) + os.urandom((1 << 20) + 20000)  # an image by its magic bytes, over 1 MB
        r = await client.call_tool("create_image_from_base64", {"data": base64.b64encode(big).decode()})
        check(error_code(r) == "file_too_large", f"base64 over the tier limit is file_too_large ({error_code(r)})")
        # Far over: the message itself is refused before it is read, as a JSON-RPC error.
        try:
            await client.call_tool("create_image_from_base64", {"data": base64.b64encode(os.urandom(3 << 20)).decode()})
            check(False, "a message over the body limit is refused")
        except MCPError as e:
            check(e.error.data and e.error.data.get("code") == "file_too_large",
                  f"a message over the body limit is a JSON-RPC error with file_too_large ({e.error})")

    # Malformed JSON-RPC, raw.
    async with httpx2.AsyncClient() as web:
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        r = await web.post(base + "/mcp", content=b"{not json", headers=h)
        check(r.status_code == 400 and r.json()["error"]["code"] == -32700, "a body that is not JSON is -32700")
        r = await web.post(base + "/mcp", json=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}], headers=h)
        check(r.status_code == 400 and r.json()["error"]["code"] == -32600, "a batch is -32600")
        r = await web.post(base + "/mcp", json={"jsonrpc": "1.0", "id": 1, "method": "ping"}, headers=h)
        check(r.status_code == 400 and r.json()["error"]["code"] == -32600, "jsonrpc 1.0 is -32600")
        r = await web.post(base + "/mcp", json={"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}, headers=h)
        check(r.status_code == 400 and r.json()["error"]["code"] == -32600, "an object id is -32600")
        r = await web.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": []}, headers=h)
        check(r.status_code == 400 and r.json()["error"]["code"] == -32602, "array params are -32602")
        r = await web.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 3, "method": "no/such"}, headers=h)
        check(r.status_code == 404 and r.json()["error"]["code"] == -32601, "an unknown method is -32601")
        r = await web.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                                "params": {"name": "get_image", "arguments": "id"}}, headers=h)
        check(r.status_code == 400 and r.json()["error"]["code"] == -32602, "string arguments are -32602")
        r = await web.post(base + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
        check(r.status_code == 202 and not r.content, "a notification is 202 without a body")
        r = await web.post(base + "/mcp", content=b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
                           headers={"Content-Type": "text/plain"})
        check(r.status_code == 415, "a text/plain body (a cross-site form) is refused")
        r = await web.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                           headers={**h, "Origin": "http://evil.example"})
        check(r.status_code == 403, "a foreign Origin is refused (DNS rebinding)")
        r = await web.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                           headers={**h, "MCP-Protocol-Version": "1999-01-01"})
        check(r.status_code == 400, "an unknown MCP-Protocol-Version is 400")
        r = await web.get(base + "/mcp", headers={"Accept": "text/event-stream"})
        check(r.status_code == 405, "GET /mcp is 405 (no server-initiated stream)")
        r = await web.get(base + "/readyz")
        check(r.status_code == 200, "the server is still up")


async def run_import(build, work, source_image):
    """A successful import needs a fetchable URL: a second server allowed to
    fetch loopback imports the first server's file URL (loopback only)."""
    other = Server(build, work, "importer", "--import-allow-private")
    try:
        other.wait_ready()
        async with Client(other.base + "/mcp") as client:
            r = await client.call_tool("create_image_from_url", {"url": source_image["url"]})
            check(not r.is_error, f"create_image_from_url imports ({r.content[0].text[:200]})")
            img = structured(r)
            check(img.get("width") == source_image["width"] and img.get("height") == source_image["height"],
                  "the imported image has the source's dimensions")
    finally:
        other.stop()


async def main(build):
    work = tempfile.mkdtemp(prefix="imgpipe-mcp-")
    server = Server(build, work, "server", "--anonymous-max-mb", "1")
    try:
        server.wait_ready()
        async with httpx2.AsyncClient() as web:
            r = await web.post(server.base + "/v1/keys", json={"email": "mcp@example.com"})
            key = r.json()["key"]
            r = await web.post(server.base + "/v1/keys", json={"email": "mcp-read@example.com", "abilities": ["read"]})
            read_key = r.json()["key"]
        results = {}
        await run_legacy(server.base, key, results)
        await run_modern(server.base, results)
        await run_read_only(server.base, read_key)
        await run_errors(server.base)
        await run_import(build, work, results["anon_image"])
        log = open(os.path.join(work, "server.log")).read()
        check('"level":"error"' not in log, "the server logged no errors")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failed", file=sys.stderr)
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "build"))
