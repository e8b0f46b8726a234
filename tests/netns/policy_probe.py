"""Run inside a loopback-only network namespace (tests/netns/test_address_policy.py starts it).

Forbidden addresses (169.254.169.254, 10.1.2.3, fd00:ec2::254) are put on this namespace's own
loopback device, each with a listening "trap" that counts the connections it accepts: a refusal is
then proven by the socket layer (no connection ever reached the trap), not by an error text, and a
positive control (``--allow-fetch`` reaching the private trap) proves the traps are reachable. Names
are answered by a scripted resolver, one of which changes its answer between lookups (rebinding).
Prints one JSON object: what each probe answered and what each trap saw.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import sys
import threading
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import httpx
from PIL import Image

from mockserver.app import create_app
from mockserver.engine.synth import make_image
from mockserver.settings import Settings

TRAPS = {
    "metadata": ("169.254.169.254", socket.AF_INET),
    "private": ("10.1.2.3", socket.AF_INET),
    "metadata6": ("fd00:ec2::254", socket.AF_INET6),
}
PORT = 8081
seen: dict[str, int] = dict.fromkeys(TRAPS, 0)


def _png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(make_image(1004, (128, 128), background="gradient").rgb).save(out, "PNG")
    return out.getvalue()


PNG = _png()


def _trap(name: str, address: str, family: int) -> None:
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, PORT))
    server.listen(16)

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            seen[name] += 1
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n" % len(PNG) + PNG)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()


def _allowed_server() -> int:
    """127.0.0.1: serves the PNG, and redirects to each forbidden form."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", PORT))
    server.listen(16)
    redirects = {
        b"/to-metadata": f"http://169.254.169.254:{PORT}/x.png",
        b"/to-private": f"http://10.1.2.3:{PORT}/x.png",
        b"/to-mapped": f"http://[::ffff:169.254.169.254]:{PORT}/x.png",
        b"/to-rebind": f"http://rebind.test:{PORT}/x.png",
    }

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            path = conn.recv(65536).split(b" ")[1]
            if path in redirects:
                head = f"HTTP/1.1 302 Found\r\nLocation: {redirects[path]}\r\nContent-Length: 0\r\n\r\n"
                conn.sendall(head.encode())
            else:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n" % len(PNG) + PNG
                )
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(server.getsockname()[1])


_real_getaddrinfo = socket.getaddrinfo
_lookups: dict[str, int] = {}
NAMES = {  # name -> the answer of each successive lookup (the last one repeats)
    "meta.test": ["169.254.169.254"],
    "private.test": ["10.1.2.3"],
    "mapped.test": ["::ffff:169.254.169.254"],
    "both.test": ["127.0.0.1", "169.254.169.254"],  # one lookup, two answers: any forbidden one refuses
    "rebind.test": ["127.0.0.1", "169.254.169.254"],
}


def _scripted_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name not in NAMES:
        return _real_getaddrinfo(host, port, *args, **kwargs)
    answers = NAMES[name]
    if name == "both.test":
        chosen = answers
    else:
        index = _lookups.get(name, 0)
        _lookups[name] = index + 1
        chosen = [answers[min(index, len(answers) - 1)]]
    out = []
    for address in chosen:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
        out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
    return out


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


async def _pixelcut(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    r = await client.post("/pixelcut/v1/remove-background", json={"image_url": url}, headers={"X-API-KEY": "sk_ns"})
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    return {"status": r.status_code, "code": body.get("error_code"), "error": body.get("error")}


async def _webhook(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    headers = {"Ocp-Apim-Subscription-Key": "pz-ns", "X-Webhook-URL": url}
    submit = "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
    video = "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/Video.mp4"
    r = await client.post(submit, json={"video_url": video}, headers=headers)
    await client.post("/__mock/clock", json={"advance": 60})
    await client.post("/__mock/webhooks/flush")
    deliveries = (await client.get("/__mock/webhooks")).json()["deliveries"]
    mine = [d for d in deliveries if d.get("url") == url]
    return {
        "submit": r.status_code,
        "attempts": [a.get("error") or a.get("status") for d in mine for a in d.get("attempts", [])],
    }


async def main(allow_private: bool) -> dict[str, Any]:
    socket.getaddrinfo = _scripted_getaddrinfo
    for name, (address, family) in TRAPS.items():
        _trap(name, address, family)
    ok = _allowed_server()
    base = f"http://127.0.0.1:{ok}"
    settings = Settings.for_tests(state_dir=Path(mkdtemp()), allow_private_fetch=allow_private)
    app = create_app(settings)
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        probes = {
            "allowed": f"{base}/x.png",
            "metadata": f"http://169.254.169.254:{PORT}/x.png",
            "metadata-octal": f"http://0251.0376.0251.0376:{PORT}/x.png",
            "metadata-decimal": f"http://2852039166:{PORT}/x.png",
            "metadata-mapped": f"http://[::ffff:169.254.169.254]:{PORT}/x.png",
            "metadata-v6": f"http://[fd00:ec2::254]:{PORT}/x.png",
            "metadata-name": f"http://meta.test:{PORT}/x.png",
            "mapped-name": f"http://mapped.test:{PORT}/x.png",
            "both-name": f"http://both.test:{PORT}/x.png",
            "private": f"http://10.1.2.3:{PORT}/x.png",
            "private-name": f"http://private.test:{PORT}/x.png",
            "redirect-metadata": f"{base}/to-metadata",
            "redirect-private": f"{base}/to-private",
            "redirect-mapped": f"{base}/to-mapped",
            "rebind-first": f"http://rebind.test:{PORT}/x.png",  # 127.0.0.1: the allowed server
            "rebind-second": f"http://rebind.test:{PORT}/x.png",  # now 169.254.169.254
        }
        for name, url in probes.items():
            results[name] = await _pixelcut(client, url)
        results["webhook-metadata"] = await _webhook(client, f"http://169.254.169.254:{PORT}/hook")
        results["webhook-private"] = await _webhook(client, f"http://10.1.2.3:{PORT}/hook")
        results["webhook-control"] = await _webhook(client, "http://testserver/__mock/reset")
        results["jobs-after-control-webhook"] = len((await client.get("/__mock/jobs")).json()["jobs"])
        results["data-url"] = await _pixelcut(client, _data_url(PNG))
    await app.state.mock.aclose()
    return {"results": results, "seen": seen}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(allow_private=sys.argv[1:] == ["--allow-fetch"]))))
