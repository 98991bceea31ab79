#!/usr/bin/env python3
"""Mock RFC 7662 introspection endpoint for the side-by-side bench (stdlib only).

POST /introspect with a form body `token=...`: a token starting with `good` is active
(scope `orders:read orders:write`, sub `alice`, an hour to live), anything else is
`{"active": false}`. Keep-alive HTTP/1.1; `GET /count` answers how many introspection
calls were served. Client authentication is not checked (scopegate sends it anyway).

usage: mock_as.py PORT
"""
import asyncio
import json
import sys
import time
from urllib.parse import parse_qs

calls = 0


def answer(token: str) -> bytes:
    if token.startswith("good"):
        now = int(time.time())
        return json.dumps({"active": True, "scope": "orders:read orders:write", "sub": "alice",
                           "client_id": "demo", "token_type": "Bearer", "iat": now,
                           "exp": now + 3600}).encode()
    return b'{"active":false}'


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global calls
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            if method == "POST" and target == "/introspect":
                calls += 1
                token = parse_qs(body.decode("latin-1")).get("token", [""])[0]
                payload = answer(token)
            else:
                payload = str(calls).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"cache-control: no-store\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(payload), payload))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
