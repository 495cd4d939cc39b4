"""One description of each Admin API call (``Call``, ``ListCall``), made by either transport.

A resource method only describes its request; ``@endpoint`` and ``@listing`` turn it into a method that sends
it on the resource's sender: synchronously on ``AdminClient``, as a coroutine on ``AsyncAdminClient``. This module
does no I/O.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, Literal, ParamSpec, Protocol, Self, TypeVar, cast, overload
from urllib.parse import quote

from pydantic import BaseModel

from steward.sdk.models import AsyncPage, Page, Query

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T", bound=BaseModel)


class NotGiven:
    """Marks an argument left out, where ``None`` is a value to send (JSON ``null``)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()


@dataclass(slots=True, frozen=True)
class Call(Generic[R]):
    """An HTTP call and how to read its JSON answer."""

    method: str
    path: str
    parse: Callable[[Any], R]
    query: Query = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    authenticated: bool = True


@dataclass(slots=True, frozen=True)
class ListCall(Generic[T]):
    """A paginated GET: each page is ``{"data": [T...], "has_more", "first_id", "last_id"}``."""

    path: str
    item: type[T]
    query: Query = field(default_factory=dict)

    def page(self, query: Query, page_class: type[Any]) -> Call[Any]:
        """The call for one page; ``page_class`` is Page or AsyncPage, parametrised with the item type."""
        parametrised = cast(Any, page_class)[self.item]
        return Call("GET", self.path, parametrised.model_validate, query=query)


class SyncSender(Protocol):
    """Sends a call and returns its parsed answer (``AdminClient``'s transport)."""

    @property
    def asynchronous(self) -> Literal[False]: ...

    def send(self, call: Call[R]) -> R: ...


class AsyncSender(Protocol):
    """Sends a call and returns its parsed answer when awaited (``AsyncAdminClient``'s transport)."""

    @property
    def asynchronous(self) -> Literal[True]: ...

    async def send(self, call: Call[R]) -> R: ...


S = TypeVar("S", SyncSender, AsyncSender)


class Resource(Generic[S]):
    """A group of calls (``admin.keys``...) bound to one sender."""

    def __init__(self, sender: S) -> None:
        self._sender: S = sender


def path(template: str, *ids: str) -> str:
    """``template`` with each ``{}`` replaced by an id, percent-encoded; an empty id is refused before sending."""
    for value in ids:
        if not isinstance(value, str) or not value:
            raise ValueError(f"expected a non-empty id for {template!r}, got {value!r}")
    return template.format(*(quote(value, safe="") for value in ids))


def _like(build: Callable[..., Any], method: Callable[..., Any]) -> None:
    """Give the sending method the describing one's name, docstring and signature (without ``self``)."""
    functools.update_wrapper(method, build)
    signature = inspect.signature(build)
    method.__dict__["__signature__"] = signature.replace(parameters=list(signature.parameters.values())[1:],
                                                         return_annotation=inspect.Signature.empty)


def compact(**fields: Any) -> dict[str, Any]:
    """A JSON body or query without the arguments left at None or NOT_GIVEN."""
    return {k: v for k, v in fields.items() if v is not None and not isinstance(v, NotGiven)}


class endpoint(Generic[P, R]):
    """Decorates a method returning ``Call[R]``: the client method returns R (or an awaitable of R)."""

    def __init__(self, build: Callable[Concatenate[Any, P], Call[R]]) -> None:
        self._build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, obj: Resource[SyncSender], owner: type[Any]) -> Callable[P, R]: ...

    @overload
    def __get__(self, obj: Resource[AsyncSender], owner: type[Any]) -> Callable[P, Awaitable[R]]: ...

    def __get__(self, obj: Resource[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build, sender = self._build, obj._sender
        if sender.asynchronous:
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> R:
                return cast(R, await sender.send(build(obj, *args, **kwargs)))
            _like(build, run_async)
            return run_async

        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            return cast(R, sender.send(build(obj, *args, **kwargs)))
        _like(build, run)
        return run


class listing(Generic[P, T]):
    """Decorates a method returning ``ListCall[T]``: the client method returns Page[T] (or AsyncPage[T])."""

    def __init__(self, build: Callable[Concatenate[Any, P], ListCall[T]]) -> None:
        self._build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, obj: Resource[SyncSender], owner: type[Any]) -> Callable[P, Page[T]]: ...

    @overload
    def __get__(self, obj: Resource[AsyncSender], owner: type[Any]) -> Callable[P, Awaitable[AsyncPage[T]]]: ...

    def __get__(self, obj: Resource[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build, sender = self._build, obj._sender
        if sender.asynchronous:
            async def list_async(*args: P.args, **kwargs: P.kwargs) -> AsyncPage[T]:
                described = build(obj, *args, **kwargs)

                async def fetch(query: Query) -> AsyncPage[T]:
                    page: AsyncPage[T] = await sender.send(described.page(query, AsyncPage))
                    return page.bind(query, fetch)
                return await fetch(described.query)
            _like(build, list_async)
            return list_async

        def list_sync(*args: P.args, **kwargs: P.kwargs) -> Page[T]:
            described = build(obj, *args, **kwargs)

            def fetch(query: Query) -> Page[T]:
                page: Page[T] = sender.send(described.page(query, Page))
                return page.bind(query, fetch)
            return fetch(described.query)
        _like(build, list_sync)
        return list_sync
