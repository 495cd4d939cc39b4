"""How the SDK fails: error classes from the HTTP status, the envelope's fields, connection failures with
retries, the missing key; and what it sends (key, user agent). Server bugs found while writing them are fixed
and kept as regression tests."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

import steward
from steward.sdk import (
    AdminAPIError,
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    MissingAdminKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from steward.sdk.client import retry_delay
from steward.sdk.errors import error_for_response
from tests.support import Gateway

# What is checked here does not depend on the database (the calls themselves run on both in the other modules),
# so it runs on SQLite only, to keep the suite fast.
CLIENT_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def admin(gateway: Gateway) -> Iterator[steward.AdminClient]:
    with steward.AdminClient(base_url=gateway.url, api_key=gateway.admin_key) as client:
        yield client


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@CLIENT_ONLY
def test_missing_objects_raise_not_found(gateway: Gateway, admin: steward.AdminClient) -> None:
    eng = gateway.workspace_ids["eng"]
    for call in (lambda: admin.invitations.get("invite_nope"), lambda: admin.users.get("user_nope"),
                 lambda: admin.workspaces.get("wrkspc_nope"), lambda: admin.workspaces.members.get(eng, "user_nope"),
                 lambda: admin.keys.get("apikey_nope"), lambda: admin.keys.rotate("apikey_nope"),
                 lambda: admin.admin_keys.revoke("adminkey_nope")):
        with pytest.raises(NotFoundError) as missing:
            call()
        error = missing.value
        assert error.status == 404 and error.type == "not_found_error" and error.request_id
        assert error.request_id.startswith("req_") and error.request_id in str(error)


@CLIENT_ONLY
def test_refusals_map_to_their_class(gateway: Gateway, admin: steward.AdminClient) -> None:
    with pytest.raises(BadRequestError) as bad:
        admin.keys.create(workspace_id=gateway.workspace_ids["eng"], name="NoConvention")
    assert bad.value.status == 400 and "naming convention" in bad.value.message
    with pytest.raises(BadRequestError):
        admin.invitations.create(email="not-an-email", role="viewer")
    with pytest.raises(BadRequestError):
        admin.invitations.list(limit=0)
    with pytest.raises(ConflictError):
        admin.workspaces.create(name="eng")
    with steward.AdminClient(base_url=gateway.url, api_key=gateway.keys["eng"]) as workspace_key, \
            pytest.raises(PermissionDeniedError) as refused:
        workspace_key.users.list()
    assert refused.value.type == "permission_error"
    with steward.AdminClient(base_url=gateway.url, api_key="sk-stw-admin01-wrong") as wrong, \
            pytest.raises(AuthenticationError) as unauthenticated:
        wrong.users.list()
    assert unauthenticated.value.status == 401 and unauthenticated.value.type == "authentication_error"
    with pytest.raises(ValueError, match="non-empty id"):
        admin.keys.get("")


@CLIENT_ONLY
def test_headers_sent(gateway: Gateway) -> None:
    seen: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [seen.append]}) as http, \
            steward.AdminClient(base_url=gateway.url + "/", api_key=gateway.admin_key, http_client=http) as admin:
        admin.users.list()
        with pytest.raises(NotFoundError):
            admin.invitations.accept(token="stw_inv_unknown", name="Nobody")
    listed, accepted = seen
    assert listed.url == httpx.URL(gateway.url + "/v1/admin/users")
    assert listed.headers["x-api-key"] == gateway.admin_key
    assert listed.headers["user-agent"] == f"steward-sdk/{steward.__version__}"
    assert "x-api-key" not in accepted.headers and "authorization" not in accepted.headers


@CLIENT_ONLY
def test_environment_defaults(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_BASE_URL", gateway.url)
    monkeypatch.setenv("STEWARD_ADMIN_KEY", gateway.admin_key)
    with steward.AdminClient() as admin:
        assert admin.options.timeout == httpx.Timeout(60.0) and admin.options.max_retries == 2
        assert [u.id for u in admin.users.list()] == [gateway.admin_user_id]
    monkeypatch.delenv("STEWARD_ADMIN_KEY")
    with steward.AdminClient() as keyless, pytest.raises(MissingAdminKeyError, match="STEWARD_ADMIN_KEY"):
        keyless.users.list()
    monkeypatch.delenv("STEWARD_BASE_URL")
    assert steward.AdminClient(api_key="x").options.base_url == "http://127.0.0.1:8080"


def test_connection_failures_are_retried_then_raised() -> None:
    attempts: list[httpx.Request] = []
    url = f"http://127.0.0.1:{_closed_port()}"
    with httpx.Client(event_hooks={"request": [attempts.append]}) as http, \
            steward.AdminClient(base_url=url, api_key="k", http_client=http, max_retries=2) as admin:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as failed:
            admin.users.list()
        waited = time.monotonic() - started
    assert len(attempts) == 3 and 0.8 < waited < 3.0  # two backoffs: about 0.5 s and 1 s
    assert failed.value.status is None and "ConnectError" in failed.value.message
    assert isinstance(failed.value.__cause__, httpx.ConnectError)

    with httpx.Client(event_hooks={"request": [attempts.append]}) as http, \
            steward.AdminClient(base_url=url, api_key="k", http_client=http, max_retries=0) as admin, \
            pytest.raises(APIConnectionError):
        admin.users.list()
    assert len(attempts) == 4


@pytest.mark.parametrize(("status", "cls"), [
    (400, BadRequestError), (413, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError),
    (404, NotFoundError), (409, ConflictError), (429, RateLimitError), (500, InternalServerError),
    (502, InternalServerError), (529, InternalServerError), (418, AdminAPIError)])
def test_class_comes_from_the_status_not_the_text(status: int, cls: type[AdminAPIError]) -> None:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"rate limited, not found, denied"},' \
           b'"request_id":"req_1"}'
    error = error_for_response(status, {}, body)
    assert type(error) is cls
    assert (error.status, error.type, error.message, error.request_id) == (
        status, "rate_limit_error", "rate limited, not found, denied", "req_1")


def test_error_without_an_envelope() -> None:
    error = error_for_response(502, {"request-id": "req_from_header"}, b"<html>Bad Gateway</html>")
    assert isinstance(error, InternalServerError) and error.type is None and error.body is None
    assert error.message == "<html>Bad Gateway</html>" and error.request_id == "req_from_header"
    assert str(error_for_response(503, {}, b"")) == "[503] HTTP 503"


def test_retry_delay_honours_the_server() -> None:
    assert retry_delay(0, {"retry-after": "2"}) == 2.0
    assert retry_delay(3, {"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8.0 < retry_delay(0, {"retry-after": in_ten}) <= 10.0
    for attempt, ceiling in ((0, 0.5), (1, 1.0), (2, 2.0), (10, 8.0)):
        for headers in (None, {"retry-after": "3600"}, {"retry-after": "soon"}):
            assert 0.75 * ceiling <= retry_delay(attempt, headers) <= ceiling


@CLIENT_ONLY
def test_null_workspace_name_is_a_bad_request(gateway: Gateway) -> None:
    response = httpx.put(f"{gateway.url}/v1/admin/workspaces/{gateway.workspace_ids['eng']}", json={"name": None},
                         headers={"x-api-key": gateway.admin_key})
    assert response.status_code == 400


def _put_on_a_raw_socket(gateway: Gateway, path: str, body: bytes) -> tuple[bytes, str]:
    """Status line and headers of one keep-alive PUT, and the connection's state half a second later."""
    url = httpx.URL(gateway.url)
    with socket.create_connection((url.host, url.port), timeout=2) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nhost: {url.host}\r\nx-api-key: {gateway.admin_key}\r\n"
                     f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, content = received.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(content) < length:
            content += sock.recv(65536)
        sock.settimeout(0.5)
        try:
            state = "closed" if sock.recv(1) == b"" else "data"
        except TimeoutError:
            state = "open"
        except ConnectionResetError:
            state = "reset"
    return head.lower(), state


@CLIENT_ONLY
def test_an_error_keeps_the_connection_usable(gateway: Gateway) -> None:
    # {"name": null} once reached the database and answered 500 on a dropped connection; it is a 400 now,
    # and the admin app answers unexpected errors itself (envelope, connection kept) instead of re-raising.
    path = f"/v1/admin/workspaces/{gateway.workspace_ids['eng']}"
    head, state = _put_on_a_raw_socket(gateway, path, b'{"tags": {}}')
    assert head.startswith(b"http/1.1 200") and state == "open"
    head, state = _put_on_a_raw_socket(gateway, path, b'{"name": null}')
    assert head.startswith(b"http/1.1 400")
    assert state == "open" or b"connection: close" in head


@CLIENT_ONLY
def test_empty_allowed_models_means_the_same_on_create_and_update(admin: steward.AdminClient) -> None:
    created = admin.workspaces.create(name="empty-list", allowed_models=[])
    updated = admin.workspaces.update(created.id, allowed_models=[])
    assert created.allowed_models == updated.allowed_models
