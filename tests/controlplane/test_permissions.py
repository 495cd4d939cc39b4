"""The permission matrix (docs/permissions.md), walked end to end: every role against every admin endpoint,
allowed and refused, over HTTP; and a member of one workspace never reads or changes another's."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from steward.controlplane.services import ControlPlane
from tests.support import Gateway

ALL = {"admin", "admin_ro", "developer_eng", "wsadmin_eng", "billing", "viewer", "user_eng", "claude_code_user"}
READERS = {"admin", "admin_ro", "viewer"}
ENG_VIEW = READERS | {"billing", "developer_eng", "wsadmin_eng", "user_eng"}
ENG_KEY_WRITERS = {"admin", "developer_eng", "wsadmin_eng"}


def setup_principals(gateway: Gateway) -> dict[str, Any]:
    """Users of every role (invited and accepted through the services), their admin keys, and a target user."""
    people = {"developer_eng": ("developer", "workspace_developer"), "wsadmin_eng": ("developer", "workspace_admin"),
              "billing": ("billing", None), "viewer": ("viewer", None), "user_eng": ("user", "workspace_user"),
              "claude_code_user": ("claude_code_user", None), "target": ("user", None)}
    eng = gateway.workspace_ids["eng"]

    async def action(plane: ControlPlane) -> dict[str, Any]:
        system = await plane.system()
        out: dict[str, Any] = {"keys": {"admin": gateway.admin_key}, "users": {}}
        for name, (role, ws_role) in people.items():
            grants = [{"workspace_id": eng, "workspace_role": ws_role}] if ws_role else None
            invite = await plane.admin.invitations.create(system, f"{name}@example.com", role, workspaces=grants)
            accepted = await plane.admin.invitations.accept(invite["token"], name)
            if name != "target":  # the target is acted upon, not an actor
                out["keys"][name] = accepted["secret"]
            else:
                out["target_admin_key"] = accepted["admin_key"]["id"]
            out["users"][name] = accepted["user"]["id"]
        read_only = await plane.admin.admin_keys.create(system, "read only", user_id=gateway.admin_user_id,
                                                        scopes=["read_only"])
        out["keys"]["admin_ro"] = read_only["secret"]
        return out
    result: dict[str, Any] = gateway.control(action)
    return result


@pytest.fixture
def world(gateway: Gateway) -> dict[str, Any]:
    return setup_principals(gateway)


Case = tuple[str, str, Callable[[dict[str, Any], Gateway], dict[str, Any] | None], set[str]]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


NOBODY = "user_01nobody0000000000000"
NO_INVITE = "invite_01nobody00000000000000"
NO_WS = "wrkspc_01nobody00000000000000"
NO_SPL = "spl_01nobody00000000000000"
NO_REQ = "splreq_01nobody000000000000"
NO_WHK = "whk_01nobody00000000000000"
NO_GROUP = "cgroup_01nobody00000000000000"
COMPLIANCE_READERS = {"admin", "admin_ro"}
MEMBER_ADMINS = {"admin", "wsadmin_eng"}
POLICY_READERS = {"admin", "admin_ro", "developer_eng", "wsadmin_eng", "billing", "viewer"}
USAGE_READERS = {"admin", "admin_ro", "billing", "viewer", "wsadmin_eng"}  # the workspace admin: narrowed to eng
BIG_LIMIT = {"limits": [{"type": "requests_per_minute", "value": 100000}]}
EMPTY = lambda w, g: None  # noqa: E731 - a table of cases reads better with a named empty body

# Every Admin API endpoint. "Allowed" means the permission check passed: the answer is not a 403 (a 404 for a
# target that does not exist, or a 400 for a state that forbids the change, both come after the check).
CASES: list[Case] = [
    ("GET", "/v1/organizations/me", EMPTY, ALL),
    ("GET", "/v1/organizations/users", EMPTY, READERS),
    ("GET", "/v1/organizations/users/{target}", EMPTY, READERS),
    ("POST", "/v1/organizations/users/{target}", lambda w, g: {"role": "user"}, {"admin"}),
    ("DELETE", "/v1/organizations/users/" + NOBODY, EMPTY, {"admin"}),
    ("POST", "/v1/organizations/invites", lambda w, g: {"email": f"{_unique('x')}@example.com", "role": "user"},
     {"admin"}),
    ("GET", "/v1/organizations/invites", EMPTY, READERS),
    ("GET", "/v1/organizations/invites/" + NO_INVITE, EMPTY, READERS),
    ("DELETE", "/v1/organizations/invites/" + NO_INVITE, EMPTY, {"admin"}),
    ("POST", "/v1/organizations/workspaces", lambda w, g: {"name": _unique("ws")}, {"admin"}),
    ("GET", "/v1/organizations/workspaces", EMPTY, ALL),
    ("GET", "/v1/organizations/workspaces/{eng}", EMPTY, ENG_VIEW),
    ("GET", "/v1/organizations/workspaces/{marketing}", EMPTY, READERS | {"billing"}),
    ("POST", "/v1/organizations/workspaces/{eng}", lambda w, g: {"display_color": "#111111"}, {"admin"}),
    ("POST", f"/v1/organizations/workspaces/{NO_WS}/archive", EMPTY, {"admin"}),
    ("GET", "/v1/organizations/workspaces/{eng}/members", EMPTY, READERS | {"wsadmin_eng"}),
    ("GET", "/v1/organizations/workspaces/{marketing}/members", EMPTY, READERS),
    ("POST", "/v1/organizations/workspaces/{eng}/members",
     lambda w, g: {"user_id": NOBODY, "workspace_role": "workspace_user"}, MEMBER_ADMINS),
    ("GET", "/v1/organizations/workspaces/{eng}/members/{user_eng}", EMPTY, READERS | {"wsadmin_eng", "user_eng"}),
    ("POST", "/v1/organizations/workspaces/{eng}/members/{user_eng}",
     lambda w, g: {"workspace_role": "workspace_user"}, MEMBER_ADMINS),
    ("DELETE", "/v1/organizations/workspaces/{eng}/members/" + NOBODY, EMPTY, MEMBER_ADMINS),
    ("DELETE", "/v1/organizations/workspaces/{marketing}/members/" + NOBODY, EMPTY, {"admin"}),
    ("GET", "/v1/organizations/api_keys", EMPTY, ALL),  # allowed for all, narrowed (see the next test)
    ("GET", "/v1/organizations/api_keys/{eng_key}", EMPTY, READERS | {"developer_eng", "wsadmin_eng"}),
    ("GET", "/v1/organizations/api_keys/{marketing_key}", EMPTY, READERS),
    ("POST", "/v1/organizations/api_keys/{eng_key}", lambda w, g: {"name": "eng-test-inference"}, ENG_KEY_WRITERS),
    ("POST", "/v1/organizations/api_keys/{marketing_key}", lambda w, g: {"name": "marketing-test-inference"},
     {"admin"}),
    ("POST", "/v1/admin/invitations", lambda w, g: {"email": f"{_unique('y')}@example.com", "role": "viewer",
                                                    "workspaces": [g.workspace_ids["eng"]]}, {"admin"}),
    ("GET", "/v1/admin/invitations", EMPTY, READERS),
    ("GET", "/v1/admin/invitations/" + NO_INVITE, EMPTY, READERS),
    ("DELETE", "/v1/admin/invitations/" + NO_INVITE, EMPTY, {"admin"}),
    ("GET", "/v1/admin/users", EMPTY, READERS),
    ("GET", "/v1/admin/users/{target}", EMPTY, READERS),
    ("PUT", "/v1/admin/users/{target}", lambda w, g: {"role": "user"}, {"admin"}),
    ("DELETE", "/v1/admin/users/" + NOBODY, EMPTY, {"admin"}),
    ("POST", "/v1/admin/workspaces", lambda w, g: {"name": _unique("ws"), "allowed_models": ["claude-*"]},
     {"admin"}),
    ("GET", "/v1/admin/workspaces", EMPTY, ALL),
    ("GET", "/v1/admin/workspaces/{marketing}", EMPTY, READERS | {"billing"}),
    ("PUT", "/v1/admin/workspaces/{eng}", lambda w, g: {"tags": {"team": "eng"}}, {"admin"}),
    ("POST", f"/v1/admin/workspaces/{NO_WS}/archive", EMPTY, {"admin"}),
    ("POST", "/v1/admin/workspaces/{eng}/members", lambda w, g: {"user_id": NOBODY, "role": "workspace_user"},
     MEMBER_ADMINS),
    ("GET", "/v1/admin/workspaces/{eng}/members", EMPTY, READERS | {"wsadmin_eng"}),
    ("GET", "/v1/admin/workspaces/{marketing}/members/" + NOBODY, EMPTY, READERS),
    ("PUT", "/v1/admin/workspaces/{eng}/members/{user_eng}", lambda w, g: {"role": "workspace_user"},
     MEMBER_ADMINS),
    ("DELETE", "/v1/admin/workspaces/{eng}/members/" + NOBODY, EMPTY, MEMBER_ADMINS),
    ("POST", "/v1/admin/keys", lambda w, g: {"workspace_id": g.workspace_ids["eng"], "name": _unique("eng-test")},
     ENG_KEY_WRITERS),
    ("POST", "/v1/admin/keys", lambda w, g: {"workspace_id": g.workspace_ids["marketing"],
                                             "name": _unique("mkt-test")}, {"admin"}),
    ("GET", "/v1/admin/keys", EMPTY, ALL),
    ("GET", "/v1/admin/keys/report", EMPTY, ALL),  # narrowed like the listing
    ("GET", "/v1/admin/keys/{eng_key}", EMPTY, READERS | {"developer_eng", "wsadmin_eng"}),
    ("PUT", "/v1/admin/keys/{marketing_key}", lambda w, g: {"name": "marketing-test-inference"}, {"admin"}),
    ("POST", "/v1/admin/keys/{eng_key}/rotate", lambda w, g: {"grace_period_seconds": 60}, ENG_KEY_WRITERS),
    ("POST", "/v1/admin/keys/{marketing_key}/rotate", EMPTY, {"admin"}),
    ("GET", "/v1/organizations/rate_limits", EMPTY, ALL),
    ("POST", "/v1/organizations/rate_limits/rl_sonnet", lambda w, g: BIG_LIMIT, {"admin"}),
    ("GET", "/v1/organizations/workspaces/{eng}/rate_limits", EMPTY, ENG_VIEW),
    ("POST", "/v1/organizations/workspaces/{eng}/rate_limits/rl_sonnet", lambda w, g: BIG_LIMIT, {"admin"}),
    ("GET", "/v1/admin/keys/{eng_key}/rate_limits", EMPTY, READERS | {"developer_eng", "wsadmin_eng"}),
    ("POST", "/v1/admin/keys/{eng_key}/rate_limits/rl_sonnet", lambda w, g: BIG_LIMIT, ENG_KEY_WRITERS),
    ("POST", "/v1/organizations/spend_limits", lambda w, g: {"scope": {"type": "user", "user_id": _unique("u")},
                                                             "period": "monthly", "amount": "100000"}, {"admin"}),
    # A person cap (a Steward user's keys): an admin's decision, like every cap; billing asks for increases instead.
    ("POST", "/v1/organizations/spend_limits", lambda w, g: {"scope": {"type": "person",
                                                                       "user_id": w["users"]["target"]},
                                                             "period": "monthly", "amount": "100000"}, {"admin"}),
    ("GET", "/v1/organizations/spend_limits", EMPTY, ALL),
    ("GET", "/v1/organizations/spend_limits/effective", EMPTY, ALL),
    ("GET", "/v1/organizations/spend_limits/" + NO_SPL, EMPTY, ALL),
    ("POST", "/v1/organizations/spend_limits/" + NO_SPL, lambda w, g: {"amount": "1"}, {"admin"}),
    ("DELETE", "/v1/organizations/spend_limits/" + NO_SPL, EMPTY, {"admin"}),
    ("POST", "/v1/organizations/spend_limit_increase_requests", lambda w, g: {"spend_limit_id": NO_SPL,
                                                                             "amount": "5"},
     {"admin", "developer_eng", "wsadmin_eng", "billing"}),
    ("GET", "/v1/organizations/spend_limit_increase_requests", EMPTY, ALL),
    ("GET", "/v1/organizations/spend_limit_increase_requests/" + NO_REQ, EMPTY, ALL),
    ("POST", f"/v1/organizations/spend_limit_increase_requests/{NO_REQ}/approve", EMPTY, {"admin"}),
    ("POST", f"/v1/organizations/spend_limit_increase_requests/{NO_REQ}/deny", EMPTY, {"admin"}),
    ("POST", "/v1/organizations/webhooks", lambda w, g: {"url": "https://hooks.invalid/steward",
                                                         "events": ["spend.alert"]}, {"admin"}),
    ("GET", "/v1/organizations/webhooks", EMPTY, READERS),
    ("GET", "/v1/organizations/webhooks/" + NO_WHK, EMPTY, READERS),
    ("POST", "/v1/organizations/webhooks/" + NO_WHK, lambda w, g: {"active": False}, {"admin"}),
    ("DELETE", "/v1/organizations/webhooks/" + NO_WHK, EMPTY, {"admin"}),
    ("GET", f"/v1/organizations/webhooks/{NO_WHK}/deliveries", EMPTY, READERS),
    ("DELETE", "/v1/admin/keys/{eng_key}", EMPTY, ENG_KEY_WRITERS),
    ("POST", "/v1/admin/admin_keys", lambda w, g: {"name": "mine"}, ALL - {"admin_ro"}),
    ("POST", "/v1/admin/admin_keys", lambda w, g: {"name": "for target", "user_id": w["users"]["target"]},
     {"admin"}),
    ("GET", "/v1/admin/admin_keys", EMPTY, ALL),
    ("DELETE", "/v1/admin/admin_keys/{target_admin_key}", EMPTY, {"admin"}),
    ("POST", "/v1/admin/compliance/groups", lambda w, g: {"name": _unique("group")}, {"admin"}),
    ("GET", "/v1/admin/compliance/groups", EMPTY, COMPLIANCE_READERS),
    ("GET", "/v1/admin/compliance/groups/" + NO_GROUP, EMPTY, COMPLIANCE_READERS),
    ("POST", "/v1/admin/compliance/groups/" + NO_GROUP, lambda w, g: {"description": "x"}, {"admin"}),
    ("DELETE", "/v1/admin/compliance/groups/" + NO_GROUP, EMPTY, {"admin"}),
    ("POST", f"/v1/admin/compliance/groups/{NO_GROUP}/workspaces", lambda w, g: {"workspace_id": NO_WS}, {"admin"}),
    ("DELETE", f"/v1/admin/compliance/groups/{NO_GROUP}/workspaces/{{eng}}", EMPTY, {"admin"}),
    ("POST", f"/v1/admin/compliance/groups/{NO_GROUP}/legal_hold", lambda w, g: {"enabled": True}, {"admin"}),
    # The Compliance API and the audit trail (AUDIT): content needs an admin key with the "compliance" scope,
    # which no principal here holds, so include_content is refused to all of them.
    ("POST", "/v1/admin/compliance/activities/query", lambda w, g: {"limit": 5}, {"admin", "admin_ro"}),
    ("POST", "/v1/admin/compliance/activities/query", lambda w, g: {"include_content": True}, set()),
    ("GET", "/v1/compliance/activities", EMPTY, {"admin", "admin_ro"}),
    ("GET", "/v1/admin/compliance/organizations", EMPTY, {"admin", "admin_ro"}),
    ("GET", "/v1/admin/compliance/users", EMPTY, {"admin", "admin_ro"}),
    ("GET", "/v1/admin/compliance/access_review?workspace_id={eng}", EMPTY, {"admin", "admin_ro"}),
    ("GET", "/v1/admin/audit/verify", EMPTY, {"admin", "admin_ro"}),
    ("GET", "/v1/admin/audit/events?limit=5", EMPTY, {"admin", "admin_ro"}),
    ("GET", "/v1/admin/policy", EMPTY, POLICY_READERS),
    ("PUT", "/v1/admin/policy", lambda w, g: {"features": {"max_tokens_max": 128000}}, {"admin"}),
    ("DELETE", "/v1/admin/policy", EMPTY, {"admin"}),
    ("GET", "/v1/admin/workspaces/{eng}/policy", EMPTY, POLICY_READERS | {"user_eng"}),
    ("GET", "/v1/admin/workspaces/{marketing}/policy", EMPTY, POLICY_READERS),
    ("PUT", "/v1/admin/workspaces/{eng}/policy", lambda w, g: {"features": {"tools": True}}, {"admin"}),
    ("DELETE", "/v1/admin/workspaces/{eng}/policy", EMPTY, {"admin"}),
    ("GET", "/v1/admin/keys/{eng_key}/policy", EMPTY, POLICY_READERS | {"user_eng"}),
    ("PUT", "/v1/admin/keys/{eng_key}/policy", lambda w, g: {"features": {"tools": True}}, {"admin"}),
    ("DELETE", "/v1/admin/keys/{eng_key}/policy", EMPTY, {"admin"}),
    ("GET", "/v1/admin/policies", EMPTY, ALL),  # narrowed to the caller's workspaces
    ("GET", "/v1/admin/policies/versions", EMPTY, POLICY_READERS),
    ("POST", "/v1/admin/policies/check", lambda w, g: {"workspace_id": g.workspace_ids["eng"], "request": {
        "model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}},
     POLICY_READERS | {"user_eng"}),
    ("GET", "/v1/admin/policies/shadow_report", EMPTY, POLICY_READERS),
    ("GET", "/v1/admin/catalog", EMPTY, POLICY_READERS),
    ("POST", "/v1/admin/catalog", lambda w, g: {"version": "not a whole catalog"}, {"admin"}),  # 400 for admin
    ("GET", "/v1/organizations/usage_report/messages", EMPTY, USAGE_READERS),
    ("GET", "/v1/organizations/usage_report/messages?starting_at=2026-01-01T00:00:00Z&workspace_ids[]={marketing}",
     EMPTY, USAGE_READERS - {"wsadmin_eng"}),
    ("GET", "/v1/organizations/cost_report", EMPTY, USAGE_READERS),
    ("GET", "/v1/admin/usage/messages", EMPTY, USAGE_READERS),
    ("GET", "/v1/admin/usage/cost", EMPTY, USAGE_READERS),
    ("GET", "/v1/admin/usage/cost?workspace_ids={marketing}", EMPTY, USAGE_READERS - {"wsadmin_eng"}),
    ("GET", "/v1/admin/usage/refusals", EMPTY, USAGE_READERS),
    ("GET", "/v1/admin/usage/refusals?workspace_ids={marketing}", EMPTY, USAGE_READERS - {"wsadmin_eng"}),
    ("GET", "/v1/organizations/usage_report/claude_code?starting_at=2026-11-20", EMPTY, USAGE_READERS),
    ("GET", "/v1/admin/usage/claude-code?start_date=2026-11-20&group_by=project", EMPTY, USAGE_READERS),
]


def _path(template: str, world: dict[str, Any], gateway: Gateway) -> str:
    return template.format(target=world["users"]["target"], user_eng=world["users"]["user_eng"],
                           target_admin_key=world["target_admin_key"],
                           eng=gateway.workspace_ids["eng"], marketing=gateway.workspace_ids["marketing"],
                           eng_key=gateway.key_ids["eng"], marketing_key=gateway.key_ids["marketing"])


def test_cases_cover_every_admin_route() -> None:
    from fastapi.routing import APIRoute

    from steward.controlplane.api.app import ROUTERS

    def shape(path: str) -> str:
        return re.sub(r"/(?:(?:user|invite|wrkspc|apikey|adminkey|rl|spl|splreq|whk|cgroup)_[A-Za-z0-9]+"
                      r"|\{[^}]+\})", "/{}", path)

    covered = {(m, shape(t.split("?")[0])) for m, t, _, _ in CASES}
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods:
                if route.path != "/v1/admin/invitations/accept":  # no key: the token is the credential
                    assert (method, shape(route.path)) in covered, (method, route.path)


def test_every_role_against_every_endpoint(gateway: Gateway, world: dict[str, Any]) -> None:
    mismatches = []
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        for method, template, body, allowed in CASES:
            for role, key in world["keys"].items():
                response = http.request(method, _path(template, world, gateway), json=body(world, gateway),
                                        headers={"x-api-key": key})
                assert response.status_code in (200, 400, 403, 404, 409), (method, template, role, response.text)
                ok = response.status_code != 403
                if ok != (role in allowed):
                    mismatches.append((method, template, role, response.status_code, response.text[:120]))
                if not ok:
                    error = response.json()
                    assert error["type"] == "error" and error["error"]["type"] == "permission_error"
                    assert response.headers["request-id"] == error["request_id"]
    assert not mismatches, "\n".join(map(str, mismatches))


def test_lists_are_narrowed_to_the_callers_workspaces(gateway: Gateway, world: dict[str, Any]) -> None:
    eng, marketing = gateway.workspace_ids["eng"], gateway.workspace_ids["marketing"]
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        def ids(path: str, role: str, **params: Any) -> set[str]:
            response = http.get(path, params=params, headers={"x-api-key": world["keys"][role]})
            assert response.status_code == 200, response.text
            return {item.get("id") for item in response.json()["data"]}

        assert ids("/v1/organizations/api_keys", "developer_eng") == {gateway.key_ids["eng"]}
        assert ids("/v1/organizations/api_keys", "developer_eng", workspace_id=marketing) == set()
        assert ids("/v1/organizations/api_keys", "billing") == set()
        assert ids("/v1/organizations/api_keys", "viewer") == set(gateway.key_ids.values())
        assert ids("/v1/organizations/workspaces", "developer_eng") == {eng}
        assert ids("/v1/organizations/workspaces", "claude_code_user") == set()
        assert ids("/v1/organizations/workspaces", "billing") == {eng, marketing}
        refused = http.post(f"/v1/admin/keys/{gateway.key_ids['marketing']}/rotate",
                            headers={"x-api-key": world["keys"]["developer_eng"]})
        assert refused.status_code == 403


def test_read_only_admin_key_and_refusals_are_audited(gateway: Gateway, world: dict[str, Any]) -> None:
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        response = http.post("/v1/organizations/workspaces", json={"name": "nope"},
                             headers={"x-api-key": world["keys"]["admin_ro"]})
        assert response.status_code == 403 and "read-only" in response.json()["error"]["message"]
        request_id = response.headers["request-id"]
    [event] = gateway.audit([request_id])
    assert event.event == "admin.refused" and event.decision == "refused" and event.actor == gateway.admin_user_id
    assert event.data and event.data["target"] == {"method": "POST", "path": "/v1/organizations/workspaces"}


def test_spend_is_read_only_with_usage_rights(gateway: Gateway, world: dict[str, Any]) -> None:
    """Every role could read every workspace's spend (list, get, effective: only "read the organization" was
    checked) and a developer could ask to raise any workspace's cap (issue 13). Now spend needs usage rights in
    the limit's workspace (organization-wide for organization and end-user limits), and a developer asks only
    for its own workspaces' limits."""
    eng, marketing = gateway.workspace_ids["eng"], gateway.workspace_ids["marketing"]
    scopes = {"eng": {"type": "workspace", "workspace_id": eng},
              "marketing": {"type": "workspace", "workspace_id": marketing},
              "eng_key": {"type": "api_key", "api_key_id": gateway.key_ids["eng"]},
              "org": {"type": "organization"}, "alice": {"type": "user", "user_id": "alice"},
              "dev_person": {"type": "person", "user_id": world["users"]["developer_eng"]}}
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        def call(method: str, path: str, role: str, body: Any = None) -> httpx.Response:
            return http.request(method, path, json=body, headers={"x-api-key": world["keys"][role]})

        made = {name: call("POST", "/v1/organizations/spend_limits", "admin",
                           {"scope": scope, "period": "monthly", "amount": "500"}).json()["id"] for name, scope
                in scopes.items()}
        names = {v: k for k, v in made.items()}

        def seen(role: str) -> tuple[set[str], set[str]]:
            listed = call("GET", "/v1/organizations/spend_limits", role)
            effective = call("GET", "/v1/organizations/spend_limits/effective", role)
            assert listed.status_code == effective.status_code == 200, (role, listed.text, effective.text)
            return ({names[x["id"]] for x in listed.json()["data"]},
                    {names[x["spend_limit_id"]] for x in effective.json()["data"]})

        everything = set(scopes)
        for role in ("admin", "admin_ro", "billing", "viewer"):
            assert seen(role) == (everything, everything), role
        assert seen("wsadmin_eng") == ({"eng", "eng_key"}, {"eng", "eng_key"})
        assert seen("developer_eng") == ({"dev_person"}, {"dev_person"})  # the person cap on themselves
        for role in ("user_eng", "claude_code_user"):
            assert seen(role) == (set(), set()), role
        assert call("GET", f"/v1/organizations/spend_limits/{made['marketing']}", "wsadmin_eng").status_code == 403
        assert call("GET", f"/v1/organizations/spend_limits/{made['eng']}", "wsadmin_eng").status_code == 200
        assert call("GET", f"/v1/organizations/spend_limits/{made['org']}", "claude_code_user").status_code == 403

        def ask(role: str, name: str) -> int:
            return call("POST", "/v1/organizations/spend_limit_increase_requests", role,
                        {"spend_limit_id": made[name], "amount": "900"}).status_code
        assert ask("developer_eng", "marketing") == 403 and ask("developer_eng", "org") == 403
        assert ask("developer_eng", "eng") == 200 and ask("developer_eng", "eng_key") == 200
        assert ask("billing", "marketing") == 200
        assert ask("developer_eng", "dev_person") == 200 and ask("wsadmin_eng", "dev_person") == 403
        huge = call("POST", "/v1/organizations/spend_limits", "admin",
                    {"scope": {"type": "user", "user_id": "bob"}, "period": "daily",
                     "amount": "99999999999999999999999999"})
        assert huge.status_code == 400 and huge.json()["error"]["type"] == "invalid_request_error"
