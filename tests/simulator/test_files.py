"""The simulator's Files API with the official SDK: upload, list, metadata, download rules, delete, and the 404
for messages that reference a file it does not hold."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from steward.simulator import SimulatorServer
from steward.simulator.files import parse_multipart

HAIKU = "claude-haiku-4-5"


def test_file_lifecycle(client: anthropic.Anthropic) -> None:
    uploaded = client.beta.files.upload(file=("dir/report.pdf", b"%PDF-1.4 sim", "application/pdf"))
    assert uploaded.id.startswith("file_") and uploaded.type == "file"
    assert (uploaded.filename, uploaded.mime_type, uploaded.size_bytes) == ("report.pdf", "application/pdf", 12)
    assert uploaded.downloadable is False and uploaded.expires_at is None
    assert client.beta.files.retrieve_metadata(uploaded.id) == uploaded
    assert uploaded.id in [f.id for f in client.beta.files.list()]
    with pytest.raises(anthropic.BadRequestError, match="file_not_downloadable"):
        client.beta.files.download(uploaded.id)
    made = client.beta.files.upload(file=("out.txt", b"generated"), extra_body={"sim_downloadable": "true",
                                                                                "expires_in_seconds": "3600"})
    assert made.downloadable is True and made.expires_at is not None and made.mime_type == "text/plain"
    assert client.beta.files.download(made.id).read() == b"generated"
    assert client.beta.files.delete(uploaded.id).type == "file_deleted"
    with pytest.raises(anthropic.NotFoundError, match=uploaded.id):
        client.beta.files.retrieve_metadata(uploaded.id)
    with pytest.raises(anthropic.BadRequestError, match="expires_in_seconds"):
        client.beta.files.upload(file=("x.txt", b"x"), expires_in_seconds=5)


def test_list_follows_the_page_cursor(client: anthropic.Anthropic) -> None:
    made = [client.beta.files.upload(file=(f"p{i}.txt", b"p")).id for i in range(3)]
    listed = [f.id for f in client.beta.files.list(limit=1)]
    assert listed[:3] == list(reversed(made))


def test_messages_must_reference_known_files(client: anthropic.Anthropic) -> None:
    file_id = client.beta.files.upload(file=("doc.txt", b"Some text.", "text/plain")).id
    for known, ok in ((file_id, True), ("file_011CNha8iCJcU1wXNR6q4V8w", False)):
        content = [{"type": "document", "source": {"type": "file", "file_id": known}},
                   {"type": "text", "text": "Summarise."}]
        messages = [{"role": "user", "content": content}]
        if ok:
            assert client.beta.messages.create(model=HAIKU, max_tokens=16, messages=messages).content  # type: ignore[arg-type]
            continue
        with pytest.raises(anthropic.NotFoundError, match=known):
            client.beta.messages.create(model=HAIKU, max_tokens=16, messages=messages)  # type: ignore[arg-type]
        with pytest.raises(anthropic.NotFoundError, match=known):
            client.beta.messages.count_tokens(model=HAIKU, messages=messages)  # type: ignore[arg-type]


def test_malformed_uploads_are_400(server: SimulatorServer) -> None:
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    not_multipart = httpx.post(f"{server.url}/v1/files", content=b"{}", headers=headers)
    assert not_multipart.status_code == 400 and not_multipart.json()["error"]["type"] == "invalid_request_error"
    no_file = httpx.post(f"{server.url}/v1/files", data={"purpose": "x"}, files={"other": ("a", b"a")},
                         headers=headers)
    assert no_file.status_code == 400 and "file" in no_file.json()["error"]["message"]


def test_parse_multipart() -> None:
    body = (b'--b\r\ncontent-disposition: form-data; name="file"; filename="a.txt"\r\ncontent-type: text/plain\r\n'
            b'\r\nline1\r\nline2\r\n--b\r\ncontent-disposition: form-data; name="expires_in_seconds"\r\n\r\n3600\r\n'
            b'--b--\r\n')
    parts = parse_multipart('multipart/form-data; boundary="b"', body)
    assert parts["file"].data == b"line1\r\nline2" and parts["file"].filename == "a.txt"
    assert parts["expires_in_seconds"].data == b"3600"
