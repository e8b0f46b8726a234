"""Webhooks: fal (Ed25519-signed, JWKS served) and Pixazo, retries on the mock's clock, log, replay."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import httpx
import pytest

from mockserver.core.signing import verify
from tests.server.conftest import advance

pytestmark = pytest.mark.anyio
FAL = {"Authorization": "Key fal-hooks"}
FAL_SUBMIT = "/fal/queue/pixelcut/video-background-removal"
PIXAZO = {"Ocp-Apim-Subscription-Key": "pz-hooks"}
PIXAZO_SUBMIT = "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
SAMPLE = "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4"


class Receiver:
    """A real webhook endpoint on 127.0.0.1 that answers a scripted sequence of statuses."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


async def _flush(client: httpx.AsyncClient) -> int:
    return int((await client.post("/__mock/webhooks/flush")).json()["attempted"])


async def test_fal_webhook_is_signed_and_verifies_with_the_served_jwks(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    r = await client.post(f"{FAL_SUBMIT}?fal_webhook={quote(receiver.url)}", json={"video_url": SAMPLE}, headers=FAL)
    request_id = r.json()["request_id"]
    assert await _flush(client) == 0, "nothing is due before the job finishes"
    await advance(client, 5)
    assert await _flush(client) == 1
    headers, body = receiver.received[0]
    payload = json.loads(body)
    assert payload["request_id"] == payload["gateway_request_id"] == request_id
    assert payload["status"] == "OK" and payload["payload"]["video"]["content_type"] == "video/webm"
    jwks = (await client.get("/fal/rest/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["kty"] == "OKP" and jwks["keys"][0]["crv"] == "Ed25519"
    args = (headers["x-fal-webhook-request-id"], headers["x-fal-webhook-user-id"], headers["x-fal-webhook-timestamp"])
    assert args[0] == request_id
    assert verify(jwks, *args, body, headers["x-fal-webhook-signature"])
    tampered = body.replace(b'"OK"', b'"OX"')
    assert not verify(jwks, *args, tampered, headers["x-fal-webhook-signature"])
    assert not verify(jwks, args[0], args[1], str(int(args[2]) + 1), body, headers["x-fal-webhook-signature"])


async def test_fal_error_webhook(client: httpx.AsyncClient, receiver: Receiver) -> None:
    await client.post(
        f"{FAL_SUBMIT}?fal_webhook={quote(receiver.url)}",
        json={"video_url": "https://example.com/mock-fail.mp4"},
        headers=FAL,
    )
    await advance(client, 5)
    await _flush(client)
    payload = json.loads(receiver.received[0][1])
    assert payload["status"] == "ERROR" and payload["error"] == "Invalid status code: 422"
    assert payload["payload"]["detail"][0]["loc"] == ["body", "video_url"]


async def test_pixazo_webhook_is_the_status_body(client: httpx.AsyncClient, receiver: Receiver) -> None:
    r = await client.post(PIXAZO_SUBMIT, json={"video_url": SAMPLE}, headers={**PIXAZO, "X-Webhook-URL": receiver.url})
    await advance(client, 5)
    await _flush(client)
    payload = json.loads(receiver.received[0][1])
    status = (await client.get(r.json()["polling_url"], headers=PIXAZO)).json()
    assert payload == status and payload["status"] == "COMPLETED"


async def test_receiver_failing_three_times_gets_the_fourth(client: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 503]
    await client.post(f"{FAL_SUBMIT}?fal_webhook={quote(receiver.url)}", json={"video_url": SAMPLE}, headers=FAL)
    await advance(client, 5)
    for delay in (0, 15, 30, 60):  # fal's first retry delays
        await advance(client, delay)
        assert await _flush(client) == 1
    assert len(receiver.received) == 4
    delivery = (await client.get("/__mock/webhooks", params={"provider": "fal"})).json()["deliveries"][0]
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 503, 200]
    assert delivery["delivered"] and not delivery["gave_up"]
    assert await _flush(client) == 0


async def test_dead_receiver_gives_up_after_ten_tries_without_blocking(client: httpx.AsyncClient) -> None:
    dead = "http://127.0.0.1:9/hook"  # the discard port: nothing listens
    await client.post(f"{FAL_SUBMIT}?fal_webhook={quote(dead)}", json={"video_url": SAMPLE}, headers=FAL)
    await advance(client, 5)
    for _ in range(12):
        await _flush(client)
        await advance(client, 3600)
    delivery = (await client.get("/__mock/webhooks")).json()["deliveries"][0]
    assert len(delivery["attempts"]) == 10 and delivery["gave_up"] and not delivery["delivered"]
    assert all(a["error"] for a in delivery["attempts"])
    assert (await client.get("/pixelcut/v1/credits", headers={"X-API-KEY": "k"})).status_code == 200


async def test_replay_and_private_receivers(client: httpx.AsyncClient, receiver: Receiver) -> None:
    await client.post(PIXAZO_SUBMIT, json={"video_url": SAMPLE}, headers={**PIXAZO, "X-Webhook-URL": receiver.url})
    await advance(client, 5)
    await _flush(client)
    delivery_id = (await client.get("/__mock/webhooks")).json()["deliveries"][0]["id"]
    replayed = (await client.post(f"/__mock/webhooks/{delivery_id}/replay")).json()
    assert len(replayed["attempts"]) == 2 and replayed["attempts"][1]["replay"]
    assert len(receiver.received) == 2 and receiver.received[0][1] == receiver.received[1][1]
    assert (await client.post("/__mock/webhooks/nope/replay")).status_code == 404
    await client.post(
        PIXAZO_SUBMIT, json={"video_url": SAMPLE}, headers={**PIXAZO, "X-Webhook-URL": "http://10.9.9.9/hook"}
    )
    await advance(client, 5)
    await _flush(client)
    refused = (await client.get("/__mock/webhooks")).json()["deliveries"][1]
    assert "ForbiddenAddress" in refused["attempts"][0]["error"], "private receivers need --allow-fetch"
