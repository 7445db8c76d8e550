"""Xet hashes and their string form (XET_PROTOCOL.md §3.1, §4.1–4.4)."""

from __future__ import annotations

import hashlib
import os
import struct

import blake3
import pytest

from registry.xet import (
    DATA_KEY,
    INTERNAL_NODE_KEY,
    VERIFICATION_KEY,
    XetFormatError,
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    is_global_dedup_eligible,
    keyed_hash,
    merkle_root,
    sha256_from_shard_bytes,
    sha256_to_shard_bytes,
    verification_hash,
    xorb_hash,
)


def _hash_with_last_u64(value: int, prefix: bytes = b"\x01" * 24) -> bytes:
    return prefix + struct.pack("<Q", value)


def test_hash_string_reverses_each_8_byte_group():
    raw = bytes(range(32))
    text = hash_to_hex(raw)
    assert text == (
        "0706050403020100" "0f0e0d0c0b0a0908" "1716151413121110" "1f1e1d1c1b1a1918"
    )  # fmt: skip
    assert hex_to_hash(text) == raw


def test_hash_string_round_trips_and_parses_any_case():
    for _ in range(20):
        raw = os.urandom(32)
        text = hash_to_hex(raw)
        assert len(text) == 64 and text == text.lower()
        assert hex_to_hash(text) == raw
        assert hex_to_hash(text.upper()) == raw


@pytest.mark.parametrize(
    "bad",
    ["", "ab" * 31, "ab" * 33, "zz" * 32, " " + "a" * 63, "a" * 63 + "\n", "a" * 64 + "\n", "g" + "a" * 63, None, 12],
)
def test_hex_to_hash_rejects_malformed_strings(bad):
    with pytest.raises(XetFormatError):
        hex_to_hash(bad)
    with pytest.raises(ValueError):  # XetFormatError is a ValueError for callers that only know that
        hex_to_hash(bad)


def test_hash_to_hex_rejects_wrong_length():
    with pytest.raises(XetFormatError, match="32 bytes"):
        hash_to_hex(b"\x00" * 31)


def test_keys_are_the_spec_constants():
    assert DATA_KEY.hex() == "6697f5775b9550de3135cbaca597181c9de421109beb2b58b4d0b04b93adf229"
    assert INTERNAL_NODE_KEY.hex() == "017ec5c7a5472996fd946666b48a02e65ddd536f37c76dd2f86352e64a53713f"
    assert VERIFICATION_KEY.hex() == "7f1857d6ce56ed66127ff913e7a5c3f3a4cd26d5b5db49e64124987f28fb94c3"


def test_chunk_hash_is_blake3_keyed_with_data_key():
    data = b"hello xet"
    assert chunk_hash(data) == blake3.blake3(data, key=DATA_KEY).digest()
    assert chunk_hash(data) != blake3.blake3(data).digest()


def test_merkle_root_of_nothing_is_zero_and_of_one_leaf_is_the_leaf():
    h = chunk_hash(b"x")
    assert merkle_root([]) == bytes(32)
    assert merkle_root([(h, 1)]) == h
    assert xorb_hash([(h, 1)]) == h


def test_merkle_node_text_uses_hash_strings_and_decimal_sizes():
    a, b = chunk_hash(b"a" * 10), chunk_hash(b"b" * 2000)
    text = f"{hash_to_hex(a)} : 10\n{hash_to_hex(b)} : 2000\n".encode()
    assert merkle_root([(a, 10), (b, 2000)]) == blake3.blake3(text, key=INTERNAL_NODE_KEY).digest()


def test_merkle_groups_cut_after_a_hash_whose_last_u64_is_divisible_by_4():
    # Leaves 0..3 where leaf 2 has last u64 % 4 == 0: the first group is leaves 0..2, the second is leaf 3 alone
    # (a group of one is still merged into a new node).
    leaves = [
        (_hash_with_last_u64(1), 1),
        (_hash_with_last_u64(5), 2),
        (_hash_with_last_u64(8), 3),
        (_hash_with_last_u64(7, b"\x02" * 24), 4),
    ]

    def node(group):
        text = "".join(f"{hash_to_hex(h)} : {s}\n" for h, s in group).encode()
        return blake3.blake3(text, key=INTERNAL_NODE_KEY).digest(), sum(s for _, s in group)

    assert merkle_root(leaves) == node([node(leaves[:3]), node(leaves[3:])])[0]
    # Without a divisible hash among the first 9, a group takes 9 leaves.
    odd = [(_hash_with_last_u64(2 * i + 1, bytes([i]) * 24), i + 1) for i in range(10)]
    assert merkle_root(odd) == node([node(odd[:9]), node(odd[9:])])[0]
    # Two or fewer remaining leaves are always taken together, whatever their hashes.
    assert merkle_root(odd[:2]) == node(odd[:2])[0]


def test_file_hash_is_the_root_keyed_with_zeros():
    leaves = [(chunk_hash(b"p" * 100), 100), (chunk_hash(b"q" * 50), 50)]
    assert file_hash(leaves) == blake3.blake3(merkle_root(leaves), key=bytes(32)).digest()
    assert file_hash(leaves) != merkle_root(leaves)
    assert file_hash([]) == bytes(32)  # what hf_xet.hash_files reports for an empty file


def test_verification_hash_covers_the_concatenated_raw_chunk_hashes():
    hashes = [chunk_hash(bytes([i])) for i in range(3)]
    assert verification_hash(hashes) == blake3.blake3(b"".join(hashes), key=VERIFICATION_KEY).digest()
    assert verification_hash(hashes) != verification_hash(hashes[:2])


def test_sha256_shard_bytes_reverse_each_8_byte_group():
    digest = hashlib.sha256(b"consortium").hexdigest()
    stored = sha256_to_shard_bytes(digest)
    raw = bytes.fromhex(digest)
    assert stored == b"".join(raw[i : i + 8][::-1] for i in range(0, 32, 8))
    assert sha256_from_shard_bytes(stored) == digest
    # The spec's observed example: digest 9fbb59cd6e0a2813... is stored as 13280a6ecd59bb9f...
    example = "9fbb59cd6e0a2813" + digest[16:]
    assert sha256_to_shard_bytes(example)[:8].hex() == "13280a6ecd59bb9f"
    assert sha256_from_shard_bytes(sha256_to_shard_bytes(example)) == example


def test_keyed_hash_depends_on_the_key():
    h = chunk_hash(b"chunk")
    k1, k2 = os.urandom(32), os.urandom(32)
    assert keyed_hash(k1, h) == blake3.blake3(h, key=k1).digest()
    assert keyed_hash(k1, h) != keyed_hash(k2, h) != h
    with pytest.raises(XetFormatError):
        keyed_hash(b"short", h)


def test_global_dedup_eligibility():
    assert is_global_dedup_eligible(_hash_with_last_u64(1024 * 7), first_in_file=False)
    assert is_global_dedup_eligible(_hash_with_last_u64(0), first_in_file=False)
    assert not is_global_dedup_eligible(_hash_with_last_u64(1024 * 7 + 1), first_in_file=False)
    assert not is_global_dedup_eligible(_hash_with_last_u64(512), first_in_file=False)
    assert is_global_dedup_eligible(_hash_with_last_u64(513), first_in_file=True)
