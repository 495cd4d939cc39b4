"""The Files API through Steward with the official SDK: lifecycle, workspace isolation, file_id references in
messages, size limits enforced before and while streaming, audit events, and the 404 envelope for other paths.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx
import orjson
import pytest

from steward.simulator.server import SimulatorServer
from tests.conftest import UPSTREAM_KEY
from tests.support import Gateway, start_gateway

HAIKU = "claude-haiku-4-5"
BETA = ["files-api-2025-04-14"]


def _document(file_id: str) -> Any:
    return [{"role": "user", "content": [
        {"type": "document", "source": {"type": "file", "file_id": file_id}},
        {"type": "text", "text": "Summarise the document."}]}]


def _request_id(raw: Any) -> str:
    return str(raw.headers["request-id"])


def test_sdk_lifecycle_is_audited_and_costs_nothing(gateway: Gateway) -> None:
    with gateway.client("eng") as client:
        raw = client.beta.files.with_raw_response.upload(file=("notes.txt", b"hello files", "text/plain"))
        uploaded = raw.parse()
        ids = {"files.upload": _request_id(raw)}
        assert uploaded.id.startswith("file_") and uploaded.filename == "notes.txt"
        assert uploaded.mime_type == "text/plain" and uploaded.size_bytes == 11 and uploaded.downloadable is False

        tool_made = client.beta.files.upload(file=("out.csv", b"a,b\n1,2\n", "text/csv"),
                                             extra_body={"sim_downloadable": "true"})
        raw_list = client.beta.files.with_raw_response.list()
        ids["files.list"] = _request_id(raw_list)
        assert [f.id for f in raw_list.parse()] == [tool_made.id, uploaded.id]  # newest first
        raw_get = client.beta.files.with_raw_response.retrieve_metadata(uploaded.id)
        ids["files.get"] = _request_id(raw_get)
        assert raw_get.parse().filename == "notes.txt"

        raw_download = client.beta.files.with_raw_response.download(tool_made.id)
        ids["files.download"] = _request_id(raw_download)
        assert raw_download.read() == b"a,b\n1,2\n"
        assert raw_download.headers["content-type"].startswith("text/csv")
        with pytest.raises(anthropic.BadRequestError, match="file_not_downloadable"):  # the API's rule for uploads
            client.beta.files.download(uploaded.id)

        raw_delete = client.beta.files.with_raw_response.delete(uploaded.id)
        ids["files.delete"] = _request_id(raw_delete)
        assert raw_delete.parse().type == "file_deleted"
        with pytest.raises(anthropic.NotFoundError):
            client.beta.files.retrieve_metadata(uploaded.id)
        assert [f.id for f in client.beta.files.list()] == [tool_made.id]

    events = {e.request_id: e for e in gateway.wait_audit(list(ids.values()))}
    for endpoint, rid in ids.items():
        data = events[rid].data or {}
        assert data["endpoint"] == endpoint and events[rid].status == 200
        if endpoint != "files.list":
            assert data["file_id"] in (uploaded.id, tool_made.id)
    usage = {u.request_id: u for u in gateway.wait_usage(list(ids.values()))}
    assert all(row.cost_picousd == 0 and row.model is None for row in usage.values())


def test_list_pages_with_both_cursor_styles(gateway: Gateway) -> None:
    with gateway.client("eng") as client:
        made = [client.beta.files.upload(file=(f"f{i}.txt", b"x", "text/plain")).id for i in range(5)]
        newest_first = list(reversed(made))
        assert [f.id for f in client.beta.files.list(limit=2)] == newest_first  # follows next_page
        page = client.beta.files.list(limit=2)
        assert page.next_page and [f.id for f in page.data] == newest_first[:2]
        by_id = httpx.get(f"{gateway.url}/v1/files", params={"limit": 2, "after_id": newest_first[1]},
                          headers={"x-api-key": gateway.keys["eng"]}).json()
        assert [f["id"] for f in by_id["data"]] == newest_first[2:4] and by_id["has_more"] is True
        before = httpx.get(f"{gateway.url}/v1/files", params={"limit": 2, "before_id": newest_first[4]},
                           headers={"x-api-key": gateway.keys["eng"]}).json()
        assert [f["id"] for f in before["data"]] == newest_first[2:4] and before["has_more"] is True
        chosen = client.beta.files.list(ids=[made[0], "file_unknown"])
        assert [f.id for f in chosen] == [made[0]]
        assert list(client.beta.files.list(scope_id="sesn_x")) == []
        with pytest.raises(anthropic.BadRequestError):
            client.beta.files.list(limit=0)


def test_other_workspace_gets_404_everywhere(gateway: Gateway) -> None:
    with gateway.client("eng") as owner, gateway.client("marketing") as other:
        file_id = owner.beta.files.upload(file=("secret.txt", b"eng only", "text/plain")).id
        for call in (other.beta.files.retrieve_metadata, other.beta.files.download, other.beta.files.delete):
            with pytest.raises(anthropic.NotFoundError) as caught:
                call(file_id)
            assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
            assert file_id in caught.value.message
        assert list(other.beta.files.list()) == []
        assert list(other.beta.files.list(ids=[file_id])) == []
        assert owner.beta.files.retrieve_metadata(file_id).id == file_id  # the failed delete changed nothing

    headers = {"x-api-key": gateway.keys["eng"], "anthropic-version": "2023-06-01"}
    for bad in ("/v1/files/abc%00def", "/v1/files/" + "a" * 300, "/v1/files/%C3%A9/content",
                "/v1/files?after_id=%00", "/v1/files?page=page_AA", "/v1/files?ids=a%00b"):
        answer = httpx.get(gateway.url + bad, headers=headers)
        assert answer.status_code in (200, 400, 404), (bad, answer.text)  # a clear answer, never a 500
    for bad_id in ("a\x00b", "x" * 100_000):
        body = orjson.dumps({"model": HAIKU, "max_tokens": 8, "messages": _document(bad_id)})
        answer = httpx.post(f"{gateway.url}/v1/messages", content=body, headers=headers)
        assert answer.status_code == 404 and len(answer.text) < 1000


def test_file_references_are_checked_against_the_workspace(gateway: Gateway) -> None:
    with gateway.client("eng") as owner, gateway.client("marketing") as other:
        file_id = owner.beta.files.upload(file=("doc.txt", b"Quarterly numbers.", "text/plain")).id
        ok = owner.beta.messages.create(model=HAIKU, max_tokens=32, messages=_document(file_id), betas=BETA)
        assert ok.type == "message"
        assert owner.beta.messages.count_tokens(model=HAIKU, messages=_document(file_id), betas=BETA).input_tokens
        for client, target in ((other, file_id), (owner, "file_011CNha8iCJcU1wXNR6q4V8w")):
            with pytest.raises(anthropic.NotFoundError, match=target):
                client.beta.messages.create(model=HAIKU, max_tokens=32, messages=_document(target), betas=BETA)
        with pytest.raises(anthropic.NotFoundError, match=file_id):
            other.beta.messages.count_tokens(model=HAIKU, messages=_document(file_id), betas=BETA)
        upload = [{"role": "user", "content": [{"type": "container_upload", "file_id": file_id},
                                               {"type": "text", "text": "Analyse it."}]}]
        with pytest.raises(anthropic.NotFoundError, match=file_id):
            other.beta.messages.create(model=HAIKU, max_tokens=32, messages=upload, betas=BETA)  # type: ignore[arg-type]
        items = [{"custom_id": "a", "params": {"model": HAIKU, "max_tokens": 16, "messages": _document(file_id)}}]
        with pytest.raises(anthropic.NotFoundError, match=file_id):
            other.messages.batches.create(requests=items)  # type: ignore[arg-type]

    # A key written with a JSON escape is still a file_id once parsed.
    plain = orjson.dumps({"model": HAIKU, "max_tokens": 16, "messages": _document(file_id)})
    escaped = plain.replace(b'"file_id"', b'"file\\u005fid"')
    assert b"file_id" not in escaped
    answer = httpx.post(f"{gateway.url}/v1/messages", content=escaped,
                        headers={"x-api-key": gateway.keys["marketing"], "content-type": "application/json",
                                 "anthropic-version": "2023-06-01", "anthropic-beta": BETA[0]})
    assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found_error"
    assert file_id in answer.json()["error"]["message"]
    audit = gateway.wait_audit([answer.headers["request-id"]])
    assert audit[0].decision == "refused" and file_id in (audit[0].reason or "")


def _raw_exchange(url: str, head: str, timeout: float = 5.0) -> bytes:
    """Send only a request head (no body) and read the answer: it must arrive without the body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as sock:
        sock.sendall(head.encode())
        received = b""
        while b'"request_id"' not in received:  # the end of the error envelope
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def test_declared_oversize_upload_is_refused_before_its_body(gateway: Gateway) -> None:
    head = (f"POST /v1/files HTTP/1.1\r\nhost: gateway\r\nx-api-key: {gateway.keys['eng']}\r\n"
            "anthropic-version: 2023-06-01\r\ncontent-type: multipart/form-data; boundary=b\r\n"
            f"content-length: {600 * 1024 * 1024}\r\n\r\n")
    started = time.monotonic()
    answer = _raw_exchange(gateway.url, head)
    assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - started < 5
    assert b'"type":"request_too_large"' in answer and b'"request_id":"req_' in answer
    with gateway.client("eng") as client:
        assert list(client.beta.files.list()) == []


@pytest.fixture
def small_files(database_url: str, simulator: SimulatorServer, tmp_path: Path) -> Iterator[Gateway]:
    with start_gateway(database_url, simulator.url, tmp_path / "home", UPSTREAM_KEY, max_file_bytes=1024) as gw:
        yield gw


def test_streamed_upload_is_cut_at_the_limit(small_files: Gateway) -> None:
    boundary = "steward-test"

    def body() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        yield (f'--{boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.bin"\r\n'
               "content-type: application/octet-stream\r\n\r\n").encode()
        for _ in range(40):
            yield b"x" * 4096
        yield f"\r\n--{boundary}--\r\n".encode()

    answer = httpx.post(f"{small_files.url}/v1/files", content=body(),
                        headers={"x-api-key": small_files.keys["eng"], "anthropic-version": "2023-06-01",
                                 "content-type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 413 and answer.json()["error"]["type"] == "request_too_large"
    with small_files.client("eng") as client:
        assert list(client.beta.files.list()) == []
        small = client.beta.files.upload(file=("small.txt", b"fits", "text/plain"))  # under the limit: accepted
        assert small.size_bytes == 4


UNKNOWN = [("GET", "/v1/whatever"), ("POST", "/v1/complete"), ("GET", "/v1/messages"), ("DELETE", "/v1/models"),
           ("PUT", "/v1/files"), ("POST", "/v1/files/file_x/content"), ("GET", "/v1/messages/batches/a/b/c"),
           ("GET", "/v1/"), ("GET", "/v1/organizations/nothing-here"), ("PATCH", "/v1/admin/keys")]


def test_unknown_paths_answer_the_api_envelope(gateway: Gateway) -> None:
    for method, path in UNKNOWN:
        answer = httpx.request(method, gateway.url + path, headers={"x-api-key": gateway.keys["eng"]})
        assert answer.status_code == 404, (method, path)
        body = answer.json()
        assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
        assert path in body["error"]["message"] and body["request_id"] == answer.headers["request-id"]
    me = httpx.get(f"{gateway.url}/v1/organizations/me", headers={"x-api-key": gateway.admin_key})
    assert me.status_code == 200
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200
