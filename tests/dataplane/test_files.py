"""File references in request bodies, the cheap pre-check that keeps them off the hot path, the ownership
cache's bound, and the Files API list query."""

from __future__ import annotations

import orjson
import pytest

from steward.dataplane.files import (
    MAX_CACHED,
    FileOwnership,
    batch_file_references,
    file_references,
    may_reference_files,
)
from steward.dataplane.files_page import ListQuery, decode_page, encode_page
from steward.errors import InvalidRequestError
from steward.storage.repositories.files import FileRepository


def test_references_found_wherever_a_file_can_be_named() -> None:
    body = {"model": "m", "system": [{"type": "text", "text": "file_id"}], "messages": [
        {"role": "user", "content": [
            {"type": "document", "source": {"type": "file", "file_id": "file_a"}},
            {"type": "image", "source": {"type": "file", "file_id": "file_b"}},
            {"type": "container_upload", "file_id": "file_c"},
            {"type": "tool_result", "tool_use_id": "t", "content": [
                {"type": "document", "source": {"type": "file", "file_id": "file_d"}}]},
            {"type": "document", "source": {"type": "file", "file_id": "file_a"}}]},  # repeated: once
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t", "name": "n", "input": {"type": "file", "file_id": "file_input"}},
            {"type": "code_execution_tool_result", "tool_use_id": "t", "content": {
                "type": "code_execution_result", "content": [{"type": "code_execution_output", "file_id": "out"}]}}]},
        {"role": "user", "content": [{"type": ["odd"], "file_id": 3}, "text", None]},  # bad input: no crash
    ]}
    assert sorted(file_references(body)) == ["file_a", "file_b", "file_c", "file_d"]
    assert sorted(batch_file_references({"requests": [{"custom_id": "x", "params": body}, "junk"]})) == [
        "file_a", "file_b", "file_c", "file_d"]
    assert file_references({"messages": [{"role": "user", "content": "file_id is just text here"}]}) == []
    assert file_references({"messages": "nope"}) == [] and batch_file_references([]) == []


def test_batch_bodies_without_file_ids_are_not_parsed() -> None:
    plain = orjson.dumps({"requests": [{"custom_id": "a", "params": {"messages": [{"content": "héllo"}]}}]})
    assert not may_reference_files(plain)
    assert may_reference_files(b'{"source":{"type":"file","file_id":"file_a"}}')
    escaped = (b'{"messages":[{"role":"user","content":[{"type":"document",'
               b'"source":{"type":"file","file\\u005fid":"f"}}]}]}')
    assert may_reference_files(escaped) and file_references(orjson.loads(escaped)) == ["f"]


def test_ownership_cache_is_bounded() -> None:
    ownership = FileOwnership(FileRepository(None), max_cached=3)  # type: ignore[arg-type]  # never read here
    for i in range(10):
        ownership.remember(f"file_{i}", "wrkspc_a")
    assert len(ownership._owners) == 3 and list(ownership._owners) == ["file_7", "file_8", "file_9"]
    ownership.forget("file_8")
    assert "file_8" not in ownership._owners
    assert MAX_CACHED >= 1000


def test_list_query() -> None:
    assert ListQuery.parse(b"") == ListQuery()
    assert ListQuery.parse(b"limit=5&after_id=file_x").after_id == "file_x"
    assert ListQuery.parse(f"page={encode_page('file_y')}".encode()).after_id == "file_y"
    assert ListQuery.parse(b"ids[]=file_a&ids[]=file_b&ids[]=file_a").ids == ["file_a", "file_b"]
    assert ListQuery.parse(b"ids=file_a,file_b").ids == ["file_a", "file_b"]
    assert decode_page(encode_page("file_011CNha8iCJcU1wXNR6q4V8w")) == "file_011CNha8iCJcU1wXNR6q4V8w"
    for bad in (b"limit=0", b"limit=1001", b"limit=x", b"after_id=a&before_id=b", b"ids=a&limit=3",
                b"page=page_%%%", "ids=" + ",".join(f"f{i}" for i in range(101))):
        with pytest.raises(InvalidRequestError):
            ListQuery.parse(bad if isinstance(bad, bytes) else bad.encode())
