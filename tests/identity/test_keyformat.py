"""Key format: prefix, checksum that catches typos, hashing, hints; ids that sort by time."""

from __future__ import annotations

import time

from steward.identity.keyformat import API_KEY_PREFIX, hash_key, mint, partial_hint, well_formed
from steward.ids import BASE62_ALPHABET, new_id


def test_minted_keys_are_well_formed_and_unique() -> None:
    keys = [mint() for _ in range(200)]
    assert len({k.secret for k in keys}) == 200
    for key in keys:
        assert key.secret.startswith(API_KEY_PREFIX) and well_formed(key.secret)
        assert key.key_hash == hash_key(key.secret) and len(key.key_hash) == 64
        assert key.hint == partial_hint(key.secret) and key.secret not in key.hint


def test_every_single_character_typo_is_caught() -> None:
    secret = mint().secret
    caught = 0
    for i in range(len(API_KEY_PREFIX), len(secret)):
        for replacement in ("0", "a", "Z"):
            if secret[i] == replacement:
                continue
            typo = secret[:i] + replacement + secret[i + 1:]
            caught += not well_formed(typo)
            assert not well_formed(typo), (i, replacement)
    assert caught > 100


def test_wrong_prefix_or_length_is_refused() -> None:
    secret = mint().secret
    assert not well_formed(secret[:-1])
    assert not well_formed("sk-ant-api03-" + secret[len(API_KEY_PREFIX):])
    assert not well_formed("")


def test_ids_sort_by_creation_time() -> None:
    first = new_id("req")
    time.sleep(0.002)
    later = [new_id("req") for _ in range(100)]
    assert all(first < other for other in later)
    assert len(set(later)) == 100
    assert all(c in BASE62_ALPHABET for c in first[len("req_"):])
