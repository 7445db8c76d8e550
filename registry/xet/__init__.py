"""Xet binary format and hashing library: pure Python, no Django imports.

Everything follows /work/shared/docs/XET_PROTOCOL.md (section numbers in each module's docstrings):

- hashing.py: chunk / Merkle (xorb) / file / verification / keyed hashes and the §3.1 hash string form, including
  the byte-reversed sha256 of a FileMetadataExt.
- xorb.py: serialized xorb chunks (none / LZ4 frame / BG4+LZ4), streaming verification (memory O(one chunk)),
  encoders for tests and ingestion, and the 40-byte-per-chunk metadata packing for the DB.
- shard.py: strict upload-shard parser and builder, the §2.5 checks on CAS blocks and file blocks, the 44-byte term
  packing for the DB, and the full (footer + lookup tables) shard returned by global dedup.
- reconstruction.py: Range parsing, §2.6 term cutting, and streaming a file's bytes back from ranged xorb reads.
- chunking.py: the client's content-defined chunker (gear hash), for golden tests and server-side re-chunking.

Hashes are 32 raw bytes in code; convert with hash_to_hex / hex_to_hash at the edges. Every malformed input raises
XetFormatError (a ValueError) whose message is a precise, user-readable reason.
"""

from registry.xet.chunking import GEAR_TABLE, file_hash_of, iter_chunks
from registry.xet.errors import XetFormatError
from registry.xet.hashing import (
    DATA_KEY,
    INTERNAL_NODE_KEY,
    VERIFICATION_KEY,
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
from registry.xet.reconstruction import (
    IterReader,
    Plan,
    PlannedTerm,
    RangeNotSatisfiable,
    iter_reconstruction,
    parse_range,
    plan_reconstruction,
)
from registry.xet.shard import (
    MAX_SHARD_BYTES,
    CasBlock,
    CasChunk,
    FileTerm,
    FullShard,
    ShardFile,
    UploadShard,
    build_dedup_shard,
    build_upload_shard,
    cas_block_for,
    make_shard_file,
    pack_terms,
    parse_full_shard,
    parse_upload_shard,
    unpack_terms,
    verify_cas_block,
    verify_shard_file,
)
from registry.xet.xorb import (
    MAX_CHUNKS,
    MAX_UNPACKED,
    MAX_XORB_BODY,
    ChunkMeta,
    XorbInfo,
    build_xorb,
    decode_chunks,
    encode_chunk,
    pack_chunk_meta,
    unpack_chunk_meta,
    verify_xorb_stream,
)

__all__ = [
    "IterReader",
    "DATA_KEY",
    "INTERNAL_NODE_KEY",
    "VERIFICATION_KEY",
    "chunk_hash",
    "file_hash",
    "hash_to_hex",
    "hex_to_hash",
    "is_global_dedup_eligible",
    "keyed_hash",
    "merkle_root",
    "sha256_from_shard_bytes",
    "sha256_to_shard_bytes",
    "verification_hash",
    "xorb_hash",
    "MAX_CHUNKS",
    "MAX_UNPACKED",
    "MAX_XORB_BODY",
    "ChunkMeta",
    "XorbInfo",
    "build_xorb",
    "decode_chunks",
    "encode_chunk",
    "pack_chunk_meta",
    "unpack_chunk_meta",
    "verify_xorb_stream",
    "MAX_SHARD_BYTES",
    "CasBlock",
    "CasChunk",
    "FileTerm",
    "FullShard",
    "cas_block_for",
    "make_shard_file",
    "parse_full_shard",
    "ShardFile",
    "UploadShard",
    "build_dedup_shard",
    "build_upload_shard",
    "pack_terms",
    "parse_upload_shard",
    "unpack_terms",
    "verify_cas_block",
    "verify_shard_file",
    "Plan",
    "PlannedTerm",
    "RangeNotSatisfiable",
    "iter_reconstruction",
    "parse_range",
    "plan_reconstruction",
    "GEAR_TABLE",
    "file_hash_of",
    "iter_chunks",
    "XetFormatError",
]
