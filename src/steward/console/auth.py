"""Console sign-in and sessions: signed cookies, server-side session rows, CSRF tokens, one-time links.

The cookie carries the session id, the user id and the admin key id, signed and time-stamped (itsdangerous);
never a secret. Every request re-reads the session row (sign-out ends it), the admin key (revoking it ends
the session) and the user (removal ends it), and builds the ``Principal`` the services check. CSRF tokens are
bound to the session (an HMAC of its id); before sign-in, to a random pre-session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from steward.controlplane.principal import Principal, authenticate_admin
from steward.ids import new_id
from steward.settings import Settings
from steward.storage.models import ConsoleLink, ConsoleSession
from steward.storage.repositories.admin import AdminStore
from steward.storage.repositories.console import ConsoleRepository

SESSION_COOKIE = "steward_console"
PRE_COOKIE = "steward_console_pre"
LINK_PREFIX = "stw_link_"


def console_secret(settings: Settings) -> bytes:
    """The configured secret, else one kept in ``home``/console.secret (created once, mode 0600)."""
    if settings.console_secret is not None:
        return settings.console_secret.get_secret_value().encode()
    path = Path(settings.home) / "console.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x") as handle:  # first writer wins when several workers start at once
                handle.write(secrets.token_urlsafe(48))
            path.chmod(0o600)
        except FileExistsError:
            pass
    return path.read_text().strip().encode()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True, frozen=True)
class Session:
    """A signed-in request: who acts, and the CSRF token its forms carry."""

    id: str
    principal: Principal
    name: str
    email: str
    csrf: str


class Auth:
    def __init__(self, settings: Settings, repo: ConsoleRepository, store: AdminStore) -> None:
        self._secret = console_secret(settings)
        self._signer = URLSafeTimedSerializer(self._secret, salt="steward-console-session")
        self._lifetime = timedelta(hours=settings.console_session_hours)
        self._link_lifetime = timedelta(minutes=settings.console_link_minutes)
        self._repo = repo
        self._store = store

    def _mac(self, value: str) -> str:
        return hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()

    # --- CSRF -------------------------------------------------------------------------------------------

    def pre_token(self, request: Request) -> tuple[str, str]:
        """(nonce for the pre-session cookie, CSRF token) for pages shown before sign-in."""
        nonce = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
        return nonce, self._mac("pre:" + nonce)

    def csrf_ok(self, request: Request, sent: str | None, session: Session | None) -> bool:
        if not sent:
            return False
        if session is not None:
            return hmac.compare_digest(sent, session.csrf)
        nonce = request.cookies.get(PRE_COOKIE)
        return nonce is not None and hmac.compare_digest(sent, self._mac("pre:" + nonce))

    @staticmethod
    def set_pre_cookie(request: Request, response: Response, nonce: str) -> None:
        response.set_cookie(PRE_COOKIE, nonce, httponly=True, samesite="lax", secure=_https(request),
                            path="/console")

    # --- sessions ---------------------------------------------------------------------------------------

    async def sign_in_with_key(self, request: Request, secret: str) -> str:
        """Check an admin key once and open a session for its user (raises the service's 401/403)."""
        async with self._store.unit() as unit:
            who = await authenticate_admin(unit, secret.strip(), ip=_ip(request))
        if who.user_id is None or who.key_id is None:
            raise RuntimeError("an admin key always belongs to a user")
        return await self.open(who.org_id, who.user_id, who.key_id)

    async def open(self, org_id: str, user_id: str, admin_key_id: str | None) -> str:
        """A new session row; returns the signed cookie value."""
        now = datetime.now(UTC)
        row = ConsoleSession(id=new_id("csess"), org_id=org_id, user_id=user_id, admin_key_id=admin_key_id,
                             created_at=now, expires_at=now + self._lifetime, ended_at=None)
        await self._repo.add(row)
        return self._signer.dumps({"sid": row.id, "uid": user_id, "kid": admin_key_id})

    def set_session_cookie(self, request: Request, response: Response, value: str) -> None:
        response.set_cookie(SESSION_COOKIE, value, max_age=int(self._lifetime.total_seconds()), httponly=True,
                            samesite="lax", secure=_https(request), path="/console")

    async def current(self, request: Request) -> Session | None:
        """The request's session, re-checked against the database; None when signed out or no longer valid."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._signer.loads(raw, max_age=int(self._lifetime.total_seconds()))
        except BadSignature:
            return None
        now = datetime.now(UTC)
        row = await self._repo.session(str(data.get("sid")))
        if row is None or row.ended_at is not None or row.expires_at <= now or row.user_id != data.get("uid") \
                or row.admin_key_id != data.get("kid"):
            return None
        found = await self._repo.signed_in(row.user_id, row.admin_key_id)
        if found is None:
            return None
        key = found.admin_key
        if row.admin_key_id is not None and (key is None or key.status != "active"
                                             or (key.expires_at is not None and key.expires_at <= now)):
            return None
        scopes = (key.scopes or []) if key is not None else []
        user = found.user
        principal = Principal(org_id=user.org_id, role=user.role, user_id=user.id, key_id=row.admin_key_id,
                              memberships=found.memberships, read_only="read_only" in scopes,
                              compliance="compliance" in scopes, label="console", ip=_ip(request))
        return Session(row.id, principal, user.name, user.email, self._mac("csrf:" + row.id))

    async def sign_out(self, session: Session) -> None:
        await self._repo.end_session(session.id, datetime.now(UTC))

    # --- one-time links ---------------------------------------------------------------------------------

    async def create_link(self, org_id: str, user_id: str, admin_key_id: str | None = None) -> str:
        """A one-time sign-in token for a user (shown once; stored hashed)."""
        return await mint_link(self._repo, org_id, user_id, admin_key_id, self._link_lifetime)

    async def redeem_link(self, token: str) -> str | None:
        """Open a session from a link (once); None when the link is unknown, used or expired."""
        if not token.startswith(LINK_PREFIX):
            return None
        link = await self._repo.redeem_link(_hash(token), datetime.now(UTC))
        if link is None:
            return None
        return await self.open(link.org_id, link.user_id, link.admin_key_id)


async def mint_link(repo: ConsoleRepository, org_id: str, user_id: str, admin_key_id: str | None,
                    lifetime: timedelta) -> str:
    """Store a one-time sign-in link (hashed) and return its token (the CLI and the demo use this too)."""
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await repo.add(ConsoleLink(id=new_id("clink"), org_id=org_id, user_id=user_id, admin_key_id=admin_key_id,
                               token_hash=_hash(token), created_at=now, expires_at=now + lifetime, used_at=None))
    return token


def _https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None
