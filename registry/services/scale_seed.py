"""A catalogue at scale for benchmarks and CI: `manage.py seed_scale --repos N --files M --audit K`.

What it makes (deterministic: the same arguments give the same names, cards and history):
- N/50 organisations (sizes skewed: the first one, `kestrel-labs`, is the largest), N/20 users with memberships, an
  email address and an API key each, and the superuser `scale-admin`; about one repo in ten lives in a user's own
  namespace.
- N repos: public, private (~8 %) or gated (~10 %, with a license), realistic names (`kestrel-7b-instruct-v2`),
  a model card (license, languages, pipeline_tag, library_name, tags; Korean or English prose), downloads spread
  like a power law with the last 30 days' share as DownloadDay rows, license acceptances on gated repos. Each repo
  has the history `repo_create` + one `commit_create` of README.md and config.json leave (two commits, `main`),
  validated as the worker would have (ValidationRun, FileCheck, ContentVerdict, `validation.finish` events) and
  the AuditEvents those services write. Everything is at least eight days old, so no finished Job rows remain
  (the job sweep prunes them after a week).
- One repo, `kestrel-labs/kestrel-trainer-logs`, made through the services (`repo_create`, `blob_ingest_stream`,
  one `commit_create` of M files in ~M/100 folders: a safetensors shard per folder, the rest small JSON), then
  validated (see `_Judge`).
- AuditEvents up to K in all: the services' own events above, then older history spread over a year across
  many actors and actions (what they name need not exist any more: the audit log outlives what it records).

Why bulk inserts: the services write one repo in ~60 ms and the worker validates a file in ~4 ms, so 100,000 repos
would take hours. The bulk path writes, batch by batch (bounded memory, one transaction per batch), exactly the
rows those services would, computed with the same functions (`card_fields`, `card_summary`, `git_blob_sha1`,
`validate_stream`, `check_repo`); tests/registry/services/test_scale_seed.py compares a bulk repo with one made
by the services and validated by the worker, row by row.

Resumable and idempotent: names are a function of the repo's index, a batch is one transaction, and a batch whose
repos exist is skipped; audit filler tops the table up to K. Running it again with the same arguments changes
nothing.

Derived tables (aggregates for the model list's facets, per-commit directory entries…) are maintained by the
services that write commits and repos; bulk inserts bypass those, so `_rebuild_derived` is called at the end.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Max, Model
from django.utils import timezone

from registry import generation
from registry.cards import card_fields, card_summary
from registry.git_objects import commit_body, commit_message, hub_signature, object_id
from registry.hashing import git_blob_sha1
from registry.licenses_common import COMMON_LICENSES, license_text
from registry.lineage import card_lineage
from registry.models import (
    ApiKey,
    AuditEvent,
    Branch,
    Commit,
    CommitFile,
    ContentTensor,
    ContentVerdict,
    DownloadDay,
    FileCheck,
    Job,
    License,
    LicenseAcceptance,
    Membership,
    ModelRepo,
    Organization,
    RepoBaseModel,
    ValidationRun,
)
from registry.selectors.tensors import shas_with_tables, tensor_table
from registry.services.audit import AUDIT_ACTIONS
from registry.services.lineage import lineage_rows
from registry.services.repos import DEFAULT_GITATTRIBUTES
from registry.services.tensors import content_tensor_rows
from registry.storage import get_store
from registry.tree_index import folders_of
from registry.validation import validate_stream
from registry.validation.types import FAILED, TensorInfo, worst
from registry.validation_repo import TreeFile, check_repo

SEEDER = "scale-admin"
BIG_REPO_NAME = "kestrel-trainer-logs"
REPOS_PER_ORG = 50
REPOS_PER_USER = 20
FILES_PER_FOLDER = 100
BATCH = 1000  # repos per transaction
AUDIT_BATCH = 5000
MIN_AGE = timedelta(days=8)  # older than the job sweep keeps finished jobs (registry/services/jobs.py)
HISTORY = timedelta(days=730)
AUDIT_SPAN = timedelta(days=365)
SEED_WORKER = "seed_scale"
README, CONFIG, GITATTRIBUTES = "README.md", "config.json", ".gitattributes"

# --- writing rows -----------------------------------------------------------------------------------------------


def _insert(model: type[Model], objs: Sequence[Model]) -> Sequence[Model]:
    """Insert `objs` (giving each its primary key), exactly as bulk_create would. On PostgreSQL by COPY, ids drawn
    from the table's sequence first: several times faster than bulk_create's INSERTs, whose parameters psycopg
    quotes one by one. COPY is not a statement the generation watcher sees (registry/generation.py), so the shared
    generation number is bumped here, and again when the transaction commits."""
    if not objs:
        return objs
    if connection.vendor != "postgresql":
        return model.objects.bulk_create(objs, batch_size=BATCH)
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the `connection` proxy costs a lookup per value
    meta = model._meta
    with db.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [meta.db_table, meta.pk.column, len(objs)])
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
        fields = meta.concrete_fields
        columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {db.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([f.get_db_prep_save(getattr(obj, f.attname), db) for f in fields])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = db.alias
    generation.bump()
    transaction.on_commit(generation.bump)
    return objs


# --- vocabulary -------------------------------------------------------------------------------------------------

ORG_WORDS = (
    "kestrel", "hangang", "baekdu", "jeju", "hallasan", "seorak", "mugung", "arirang", "cheonji", "dokdo",
    "gyeongju", "andong", "nakdong", "sobaek", "jiri", "odae", "taebaek", "bukhan", "yeouido", "pangyo",
    "daedeok", "songdo", "ulsan", "mokpo", "yeosu", "tongyeong", "sokcho", "chuncheon", "wonju", "cheongju",
    "boryeong", "gimhae", "pohang", "suwon", "incheon", "gangneung", "namsan", "bukak", "inwang", "gwanak",
    "amber", "basalt", "cobalt", "granite", "indigo", "jade", "lumen", "meridian", "nimbus", "onyx",
    "prism", "quartz", "sable", "tidal", "umber", "vertex", "willow", "zephyr", "aurora", "cedar",
)
ORG_KINDS = (
    "labs", "ai", "research", "nlp", "ml", "lab", "group", "institute", "univ", "tech", "bio", "med", "health",
    "fin", "legal", "edu", "gov", "data", "vision", "speech", "robotics", "systems", "cloud", "works", "studio",
    "collective", "foundation", "center", "team", "kr", "seoul", "busan", "daejeon", "gwangju", "campus", "hub",
    "x", "one", "next", "core",
)
GIVEN = (
    "jiwoo", "minjun", "seoyeon", "doyun", "hayoon", "siwoo", "jiho", "sua", "yejun", "jia", "eunwoo", "haeun",
    "junseo", "chaewon", "hyunwoo", "yuna", "minseo", "taeyang", "soyeon", "dohyun", "nari", "sejin", "hana",
    "youngho", "jisoo", "mina", "alex", "sam", "maria", "lucas", "emma", "noah", "olivia", "ethan", "mia",
    "daniel", "sofia", "leo", "chloe", "ivan",
)
SURNAMES = (
    "kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim", "han", "oh", "seo", "shin",
    "kwon", "hwang", "ahn", "song", "jeon", "hong", "yoo", "ko", "moon", "yang", "son", "bae", "baek", "heo",
    "nam", "smith",
)
FAMILIES = (
    "kestrel", "hanbit", "saebyeok", "gaon", "haneul", "nuri", "dasom", "bora", "heron", "osprey", "magpie",
    "wren", "falcon", "plover", "egret", "ibis", "crane", "swift", "lark", "finch", "sparrow", "robin", "tern",
    "gannet", "petrel", "shrike", "starling", "oriole", "condor", "merlin", "harrier", "kite", "owl", "raven",
    "jay", "dove", "pelican", "puffin", "loon", "grebe",
)
SIZES = ("125m", "350m", "760m", "1.3b", "2.7b", "3b", "7b", "8b", "13b", "30b", "34b", "70b")
VERSIONS = ("", "v2", "v3", "2407")
# variant: (pipeline_tag, library_name, tags, what it is in English, in Korean)
VARIANTS: dict[str, tuple[str, str, tuple[str, ...], str, str]] = {
    "base": ("text-generation", "transformers", ("pretrained",), "pretrained base model", "사전 학습 기본 모델"),
    "instruct": ("text-generation", "transformers", ("conversational", "instruct"),
                 "instruction-tuned model", "지시 학습 모델"),
    "chat": ("text-generation", "transformers", ("conversational",), "chat model", "대화형 모델"),
    "code": ("text-generation", "transformers", ("code",), "code model", "코드 생성 모델"),
    "math": ("text-generation", "transformers", ("math", "reasoning"), "math reasoning model", "수학 추론 모델"),
    "ko": ("text-generation", "transformers", ("korean",), "Korean continued-pretraining model",
           "한국어 추가 사전 학습 모델"),
    "en-ko": ("translation", "transformers", ("translation",), "English–Korean translation model",
              "영한 번역 모델"),
    "dpo": ("text-generation", "transformers", ("dpo", "alignment"), "preference-tuned (DPO) model",
            "선호 학습(DPO) 모델"),
    "sft": ("text-generation", "transformers", ("sft",), "supervised fine-tune", "지도 미세조정 모델"),
    "gguf": ("text-generation", "gguf", ("gguf", "quantized"), "GGUF quantisation", "GGUF 양자화 모델"),
    "awq": ("text-generation", "transformers", ("awq", "4-bit", "quantized"), "AWQ 4-bit quantisation",
            "AWQ 4비트 양자화 모델"),
    "gptq-int4": ("text-generation", "transformers", ("gptq", "4-bit", "quantized"), "GPTQ int4 quantisation",
                  "GPTQ int4 양자화 모델"),
    "lora": ("text-generation", "peft", ("lora", "adapter"), "LoRA adapter", "LoRA 어댑터"),
    "embed": ("feature-extraction", "sentence-transformers", ("sentence-similarity", "embeddings"),
              "text embedding model", "문장 임베딩 모델"),
    "reward": ("text-classification", "transformers", ("reward-model",), "reward model", "보상 모델"),
    "vision": ("image-text-to-text", "transformers", ("multimodal", "vision"), "vision-language model",
               "시각-언어 모델"),
}
VARIANT_NAMES = tuple(VARIANTS)
LICENSES = ("apache-2.0", "apache-2.0", "apache-2.0", "mit", "mit", "cc-by-4.0", "cc-by-nc-4.0", "llama3.1",
            "gemma", "openrail", "other")
LANGUAGE_SETS = (("ko", "en"), ("ko", "en"), ("ko",), ("en",), ("en",), ("ko", "en", "ja"), ("ko", "en", "zh"),
                 ("multilingual",))
ARCHITECTURES = (("LlamaForCausalLM", "llama"), ("Qwen2ForCausalLM", "qwen2"), ("MistralForCausalLM", "mistral"),
                 ("GemmaForCausalLM", "gemma"), ("GPT2LMHeadModel", "gpt2"))
COMMIT_TITLES = ("Upload folder using huggingface_hub", "Add model card", "Upload README.md and config.json",
                 "Initial upload", "Upload model card with huggingface_hub")
# (slug, name) of the licenses gated repos ask for; made when missing.
GATE_LICENSES = (("consortium-research-license", "Consortium Research License"),
                 ("consortium-community-license", "Consortium Community License"),
                 ("consortium-open-model-license", "Consortium Open Model License"))
LICENSE_TEXT = "# {name}\n\n1. Use the model for research and evaluation.\n2. Keep this license with every copy.\n"


def org_slug(k: int) -> str:
    """The k-th organisation: distinct for every k (words, then a number)."""
    a, rest = ORG_WORDS[k % len(ORG_WORDS)], k // len(ORG_WORDS)
    b, n = ORG_KINDS[rest % len(ORG_KINDS)], rest // len(ORG_KINDS)
    return f"{a}-{b}" + (f"-{n + 1}" if n else "")


def username(k: int) -> str:
    """The k-th user: distinct for every k and never an organisation's slug (other words)."""
    a, rest = GIVEN[k % len(GIVEN)], k // len(GIVEN)
    b, n = SURNAMES[rest % len(SURNAMES)], rest // len(SURNAMES)
    return f"{a}-{b}" + (str(n + 1) if n else "")


_NAME_RADIX = (len(FAMILIES), len(SIZES), len(VARIANT_NAMES), len(VERSIONS))
_NAME_SPACE = math.prod(_NAME_RADIX)
_NAME_STRIDE = 7919  # prime, not a factor of _NAME_SPACE: j -> j * stride mod space is one-to-one


def repo_name(namespace_index: int, j: int) -> tuple[str, str, str, str]:
    """(family, size, variant, version) of the j-th repo of a namespace, distinct for every j (past _NAME_SPACE
    names, the version part carries a number)."""
    lap, j = divmod(j, _NAME_SPACE)
    code = (j * _NAME_STRIDE + namespace_index * 104729) % _NAME_SPACE
    parts = []
    for radix in reversed(_NAME_RADIX):
        parts.append(code % radix)
        code //= radix
    version, variant, size, family = parts
    return (FAMILIES[family], SIZES[size], VARIANT_NAMES[variant],
            "-".join(p for p in (VERSIONS[version], f"r{lap}" if lap else "") if p))


# --- the plan ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Namespace:
    index: int  # in the layout: organisations first, then personal namespaces
    slug: str
    org: int | None  # organisation number, or None for a user's namespace
    user: int | None  # user number owning the namespace (None for organisations)
    size: int  # repos in it
    first: int  # index of its first repo


@dataclass
class Plan:
    """Who exists and where each repo index lives; a pure function of (repos, files, audit, seed)."""

    repos: int
    files: int
    audit: int
    seed: int = 0
    namespaces: list[Namespace] = field(default_factory=list)

    @property
    def orgs(self) -> int:
        return max(1, self.repos // REPOS_PER_ORG)

    @property
    def users(self) -> int:
        return max(4, self.repos // REPOS_PER_USER)

    def __post_init__(self) -> None:
        personal = max(1, self.repos // 100) if self.repos >= 10 else 0
        org_share = self.repos - max(personal, self.repos // 10) if personal else self.repos
        sizes = _skewed(org_share, self.orgs) + _skewed(self.repos - org_share, personal)
        first = 0
        for index, size in enumerate(sizes):
            is_org = index < self.orgs
            self.namespaces.append(Namespace(
                index=index, slug=org_slug(index) if is_org else username(index - self.orgs),
                org=index if is_org else None, user=None if is_org else index - self.orgs, size=size, first=first))
            first += size

    def namespace_of(self, i: int) -> tuple[Namespace, int]:
        """The namespace of repo i and its rank there (binary search over the layout)."""
        lo, hi = 0, len(self.namespaces) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.namespaces[mid].first <= i:
                lo = mid
            else:
                hi = mid - 1
        ns = self.namespaces[lo]
        return ns, i - ns.first

    def org_admin(self, org: int) -> int:
        return (org * 7) % self.users

    def org_members(self, org: int) -> list[tuple[int, str]]:
        """(user number, role) of an organisation: an admin and up to three others."""
        rng = random.Random(f"{self.seed}-members-{org}")
        members = {self.org_admin(org): Membership.Role.ADMIN}
        for _ in range(rng.randint(0, 3)):
            members.setdefault(rng.randrange(self.users), rng.choice([Membership.Role.WRITE, Membership.Role.READ]))
        return sorted(members.items())


def _skewed(total: int, parts: int) -> list[int]:
    """`total` split into `parts` (each at least one when possible), sizes falling like a power law."""
    if parts <= 0:
        return []
    weights = [1 / (k + 1) ** 0.8 for k in range(parts)]
    scale = total / sum(weights)
    sizes = [max(1 if total >= parts else 0, int(w * scale)) for w in weights]
    k = 0
    while sum(sizes) < total:
        sizes[k % parts] += 1
        k += 1
    while sum(sizes) > total:
        big = max(range(parts), key=sizes.__getitem__)
        sizes[big] -= 1
    return sizes


# --- one repo, as the services would leave it ------------------------------------------------------------------


@dataclass
class RepoSpec:
    index: int
    namespace: Namespace
    name: str
    private: bool
    gating: str
    license_slug: str | None
    card: dict[str, Any]
    readme: bytes
    config: bytes
    title: str
    author: int  # user number
    created_at: datetime
    committed_at: datetime
    downloads: int
    ip: str


def _now() -> datetime:
    return timezone.now().replace(microsecond=0)


def repo_spec(plan: Plan, i: int, now: datetime) -> RepoSpec:
    ns, j = plan.namespace_of(i)
    rng = random.Random(f"{plan.seed}-repo-{i}")
    family, size, variant, version = repo_name(ns.index, j)
    name = "-".join(p for p in (family, size, variant, version) if p)
    pipeline_tag, library, extra_tags, what_en, what_ko = VARIANTS[variant]
    languages = list(rng.choice(LANGUAGE_SETS))
    roll = rng.random()
    private = roll < 0.08
    gating = (ModelRepo.Gating.NONE if private or roll > 0.18
              else ModelRepo.Gating.MANUAL if roll < 0.11 else ModelRepo.Gating.AUTO)
    gated = gating != ModelRepo.Gating.NONE
    license_id = "other" if gated else rng.choice(LICENSES)
    architecture, model_type = rng.choice(ARCHITECTURES)
    tags = [model_type, *extra_tags] + (["korean"] if "ko" in languages and "korean" not in extra_tags else [])
    card: dict[str, Any] = {"license": license_id}
    if gated:
        card["license_name"] = GATE_LICENSES[i % len(GATE_LICENSES)][0]
    card.update({"language": languages, "pipeline_tag": pipeline_tag, "library_name": library, "tags": tags})
    if variant not in ("base", "ko") and rng.random() < 0.6:
        card["base_model"] = f"{ns.slug}/{family}-{size}-base"
    owner = ns.slug
    if "ko" in languages and rng.random() < 0.5:
        prose = f"{owner}에서 공개한 {size.upper()} 규모의 {what_ko}입니다. 한국어와 영어 텍스트로 학습했습니다."
    else:
        prose = (f"A {size.upper()} {what_en} from {owner}, trained on Korean and English text "
                 f"({', '.join(languages)}).")
    readme = _render_card(card, name, prose, f"{ns.slug}/{name}")
    config = json.dumps({"architectures": [architecture], "model_type": model_type,
                         "hidden_size": _hidden(size), "num_hidden_layers": _layers(size),
                         "torch_dtype": "bfloat16"}, indent=2).encode() + b"\n"
    age = MIN_AGE + timedelta(seconds=rng.randrange(int((HISTORY - MIN_AGE).total_seconds())))
    created_at = now - age
    committed_at = min(created_at + timedelta(seconds=rng.randrange(60, 3 * 86400)), now - MIN_AGE)
    author = plan.org_admin(ns.org) if ns.org is not None else ns.user
    downloads = 0 if rng.random() < 0.3 else int(10 * (rng.paretovariate(1.1) - 1) * 10)
    return RepoSpec(
        index=i, namespace=ns, name=name, private=private, gating=gating,
        license_slug=GATE_LICENSES[i % len(GATE_LICENSES)][0] if gated else None, card=card,
        readme=readme.encode(), config=config, title=rng.choice(COMMIT_TITLES), author=author,
        created_at=created_at, committed_at=committed_at, downloads=min(downloads, 50_000_000),
        ip=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    )


def _hidden(size: str) -> int:
    return {"125m": 768, "350m": 1024, "760m": 1536, "1.3b": 2048, "2.7b": 2560, "3b": 3072}.get(size, 4096)


def _layers(size: str) -> int:
    return {"125m": 12, "350m": 24, "760m": 24, "1.3b": 24, "2.7b": 32, "3b": 32, "70b": 80}.get(size, 40)


def _render_card(data: dict[str, Any], name: str, prose: str, repo_id: str) -> str:
    """README.md with YAML front matter. Values are plain words (no YAML specials), so parse_card gives back
    `data` exactly (a test checks)."""
    lines = ["---"]
    for key, value in data.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"- {item}" for item in value)
        else:
            lines.append(f"{key}: {value}")
    lines.append("---")
    return "\n".join([*lines, f"# {name}", "", prose, "", "## Use", "", "```python",
                      "from transformers import AutoModelForCausalLM", "",
                      f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")', "```", ""])


# --- validation, as the worker would have done it --------------------------------------------------------------


@dataclass
class TreeEntry:
    """One path of a commit's tree, as validation sees it."""

    path: str
    size: int
    git_oid: str
    sha256: str
    content: bytes | None  # inline bytes; None for a blob (read from the store)
    storage_key: str = ""
    changed: bool = True  # added or changed by the commit: it has a FileCheck


@dataclass
class Judged:
    status: str
    checks: list[dict[str, Any]]
    summary: dict[str, Any]


class _Judge:
    """What `validation_run_execute` (registry/services/validation.py: `_check_one`, `_store_verdict`, `_finish`)
    writes for commits whose content is inline or in verified blobs, computed in memory so that many runs can be
    written in bulk: the same validators (`validate_stream`, `check_repo`), verdicts reused by sha256 as the worker
    reuses them, new verdicts collected in `self.new`. Rejected or missing bytes never occur in a seed."""

    def __init__(self) -> None:
        self.by_sha: dict[str, ContentVerdict] = {}
        self.by_oid: dict[str, ContentVerdict] = {}
        self.new: list[ContentVerdict] = []
        self.tables: dict[str, list[TensorInfo]] = {}  # tensor tables: read from headers, or loaded
        self.stored: set[str] = set()  # contents whose table is in the database

    def load(self, shas: Sequence[str], oids: Sequence[str]) -> None:
        """Verdicts already in the database for these contents (before judging a batch)."""
        for part in _chunks(sorted(set(shas) - set(self.by_sha))):
            for v in ContentVerdict.objects.filter(sha256__in=part):
                self._keep(v)
        for part in _chunks(sorted(set(oids) - set(self.by_oid))):
            for v in ContentVerdict.objects.filter(git_oid__in=part):
                self.by_oid.setdefault(v.git_oid, v)
        self.stored |= shas_with_tables(list(shas))

    def forget(self) -> None:
        """Between batches: verdicts were written; keep memory bounded."""
        self.by_sha.clear()
        self.by_oid.clear()
        self.new.clear()
        self.tables.clear()
        self.stored.clear()

    def tensor_rows(self) -> list[ContentTensor]:
        """The new contents' tensor tables as rows (`content_tensors_store` of the worker, in bulk)."""
        stored = self.stored | shas_with_tables([sha for sha in self.tables if sha not in self.stored])
        return [row for sha, table in sorted(self.tables.items()) if sha not in stored
                for row in content_tensor_rows(sha256=sha, tensors=table)]

    def _keep(self, verdict: ContentVerdict) -> None:
        self.by_sha[verdict.sha256] = verdict
        if verdict.git_oid:
            self.by_oid.setdefault(verdict.git_oid, verdict)

    def file(self, entry: TreeEntry, at: datetime) -> Judged:
        from registry.services.validation import _failure_reason, format_hint

        hint = format_hint(entry.path)
        verdict = self.by_sha.get(entry.sha256)
        if verdict is not None and not verdict.stale and verdict.format_hint == hint:
            return Judged(verdict.status, verdict.checks, {**verdict.summary, "reused": True})
        chunks = [entry.content] if entry.content is not None else get_store().iter_bytes(entry.storage_key)
        report = validate_stream(chunks, path=entry.path, expected_sha256=entry.sha256, expected_size=entry.size,
                                 max_size=settings.MAX_FILE_SIZE)
        result = report.as_dict()
        integrity_failed = any(c["name"] == "integrity" and c["status"] == FAILED for c in result["checks"])
        if not integrity_failed and report.sha256 is not None and verdict is None:
            made = ContentVerdict(
                sha256=entry.sha256, git_oid=entry.git_oid if entry.content is not None else "", size=entry.size,
                format_hint=hint, status=result["status"], checks=result["checks"], summary=result["summary"],
                reason=_failure_reason(result["checks"]), stale=False, created_at=at)
            self._keep(made)
            self.new.append(made)
        if not integrity_failed and report.sha256 is not None and report.tensors:
            self.tables.setdefault(entry.sha256, report.tensors)
        return Judged(result["status"], result["checks"], result["summary"])

    def run(self, tree: Sequence[TreeEntry], own: dict[str, Judged]) -> tuple[str, dict[str, Any], int | None,
                                                                             dict[str, Any]]:
        """(status, summary, parameter_count, parameter_dtypes) of a run whose changed files were judged."""
        files: list[TreeFile] = []
        inherited_failures: list[str] = []
        by_path = {e.path: e for e in tree}
        for entry in sorted(tree, key=lambda e: e.path):
            if entry.path in own:
                files.append(TreeFile(entry.path, entry.size, own[entry.path].status, own[entry.path].summary))
                continue
            verdict = self.by_sha.get(entry.sha256) if entry.content is None else self.by_oid.get(entry.git_oid)
            if verdict is not None and verdict.status == FAILED:
                inherited_failures.append(entry.path)
            files.append(TreeFile(entry.path, entry.size, verdict.status if verdict else None,
                                  verdict.summary if verdict else None))

        def read(path: str) -> bytes | None:
            entry = by_path.get(path)
            if entry is None or entry.size > 16 * 1024 * 1024:
                return None
            if entry.content is not None:
                return entry.content
            return b"".join(get_store().iter_bytes(entry.storage_key))

        def tensors(path: str) -> Iterable[TensorInfo] | None:
            entry = by_path.get(path)
            if entry is None:
                return None
            if entry.sha256 not in self.tables and entry.sha256 in self.stored:  # read once per batch
                self.tables[entry.sha256] = list(tensor_table(entry.sha256))
            return self.tables.get(entry.sha256)

        report = check_repo(files, read=read, tensors=tensors)
        summary = report.as_dict()
        if inherited_failures:
            shown = ", ".join(inherited_failures[:5]) + (" …" if len(inherited_failures) > 5 else "")
            summary["checks"].append({"name": "unchanged_files", "status": FAILED,
                                      "message": f"files carried over from earlier commits failed validation: {shown}"})
        statuses = [j.status for j in own.values()] + [c["status"] for c in summary["checks"]]
        status = worst([s if s in (FAILED, "warning", "passed") else FAILED for s in statuses])
        summary["status"] = worst([c["status"] for c in summary["checks"]])
        return (status, summary, report.summary.get("parameter_count"),
                report.summary.get("parameter_dtypes") or {})


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- the seed ---------------------------------------------------------------------------------------------------


@dataclass
class ScaleSeedReport:
    created: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped_batches: int = 0
    already_seeded: bool = False

    def add(self, table: str, n: int) -> None:
        self.created[table] = self.created.get(table, 0) + n

    @property
    def rows(self) -> int:
        return sum(self.created.values())


Log = Callable[[str], None]


def scale_seed(*, repos: int, files: int, audit: int, seed: int = 0, log: Log | None = None) -> ScaleSeedReport:
    """Seed the catalogue (see the module docstring); idempotent. Returns what was created and how long it took."""
    say = log or (lambda _msg: None)
    plan = Plan(repos=repos, files=files, audit=audit, seed=seed)
    report = ScaleSeedReport()
    now = _now()
    started = time.perf_counter()

    t = time.perf_counter()
    users, orgs, licenses = _people(plan, now, report)
    report.seconds["people"] = time.perf_counter() - t
    say(f"people: {plan.users} users, {plan.orgs} organisations ({time.perf_counter() - t:.1f}s)")

    t = time.perf_counter()
    judge = _Judge()
    new_repo_ids: list[int] = []
    new_commit_ids: list[int] = []
    for start in range(0, repos, BATCH):
        specs = [repo_spec(plan, i, now) for i in range(start, min(start + BATCH, repos))]
        existing = set(ModelRepo.objects.filter(namespace__in={s.namespace.slug for s in specs},
                                                name__in={s.name for s in specs}).values_list("namespace", "name"))
        todo = [s for s in specs if (s.namespace.slug, s.name) not in existing]
        if not todo:
            report.skipped_batches += 1
            continue
        with transaction.atomic():
            repo_ids, commit_ids = _write_repos(todo, users, orgs, licenses, judge, report, plan)
        judge.forget()
        new_repo_ids += repo_ids
        new_commit_ids += commit_ids
        done = min(start + BATCH, repos)
        if done % (BATCH * 10) == 0 or done == repos:
            elapsed = time.perf_counter() - t
            say(f"repos: {done}/{repos} ({elapsed:.0f}s, {report.rows / max(elapsed, 1e-9):,.0f} rows/s)")
    report.seconds["repos"] = time.perf_counter() - t

    if files:
        t = time.perf_counter()
        made = _big_repo(plan, users, files, report, say)
        if made is not None:
            new_repo_ids.append(made)
        report.seconds["big repo"] = time.perf_counter() - t

    t = time.perf_counter()
    _audit_history(plan, users, audit, now, report, say)
    report.seconds["audit"] = time.perf_counter() - t

    t = time.perf_counter()
    _rebuild_derived(repo_ids=new_repo_ids, commit_ids=new_commit_ids)
    report.seconds["derived"] = time.perf_counter() - t
    report.seconds["total"] = time.perf_counter() - started
    report.already_seeded = report.rows == 0
    return report


# Derived tables: each entry is called once at the end as `rebuild(repo_ids=[...], commit_ids=[...])` with the ids
# of the repos and commits this run inserted in bulk (the big repo's commit went through commit_create, which keeps
# its own derived rows; its repo id is in repo_ids): the commits' folder rows, then the catalogue's facet counts and
# search documents. A new derived table adds its rebuild here.
def _rebuild_commit_dirs(*, repo_ids: Sequence[int], commit_ids: Sequence[int]) -> None:
    from registry.services.trees import commit_dirs_rebuild_many

    commit_dirs_rebuild_many(commit_ids=commit_ids)


def _rebuild_catalogue(*, repo_ids: Sequence[int], commit_ids: Sequence[int]) -> None:
    from registry.services.catalogue import catalogue_rebuild

    catalogue_rebuild()


DERIVED_REBUILDS: list[Callable[..., object]] = [_rebuild_commit_dirs, _rebuild_catalogue]


def _rebuild_derived(*, repo_ids: Sequence[int], commit_ids: Sequence[int]) -> None:
    """The hook point for derived tables after bulk inserts (see DERIVED_REBUILDS); nothing to do while none exist."""
    for rebuild in DERIVED_REBUILDS:
        rebuild(repo_ids=repo_ids, commit_ids=commit_ids)


# --- people -----------------------------------------------------------------------------------------------------


def _people(plan: Plan, now: datetime, report: ScaleSeedReport) -> tuple[dict[int, Any], dict[int, Organization],
                                                                           dict[str, License]]:
    """Users (with email addresses and a key), organisations, memberships, gate licenses, and `scale-admin`."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password

    User = get_user_model()  # noqa: N806
    with transaction.atomic():
        admin = User.objects.filter(username=SEEDER).first()
        if admin is None:
            admin = User.objects.create(username=SEEDER, email=f"{SEEDER}@example.com", is_staff=True,
                                        is_superuser=True, password=make_password(None))
            report.add("users", 1)
        licenses = {}
        for slug, name in GATE_LICENSES:
            licenses[slug], made = License.objects.get_or_create(
                slug=slug, defaults={"name": name, "text": LICENSE_TEXT.format(name=name)})
            report.add("licenses", int(made))
        for slug, name, url in COMMON_LICENSES:  # shipped by migration 0022; what a card's `license:` names
            licenses[slug], _ = License.objects.get_or_create(
                slug=slug, defaults={"name": name, "url": url, "text": license_text(name, url)})

    names = {k: username(k) for k in range(plan.users)}
    have = {}
    for part in _chunks(list(names.values()), 2000):
        have.update(dict(User.objects.filter(username__in=part).values_list("username", "pk")))
    missing = [k for k, name in names.items() if name not in have]
    for part in _chunks(missing, 2000):
        with transaction.atomic():
            made = _insert(User, [
                User(username=names[k], email=f"{names[k]}@example.com", password=make_password(None),
                     date_joined=now - HISTORY - timedelta(days=k % 90)) for k in part])
            _insert(EmailAddress, [EmailAddress(user=u, email=u.email, verified=True, primary=True) for u in made])
            keys = _insert(ApiKey, [_api_key(plan, k, u, now) for k, u in zip(part, made, strict=True)])
            _insert(AuditEvent, [_key_event(key) for key in keys])
        report.add("users", len(made))
        report.add("email addresses", len(made))
        report.add("api keys", len(made))
        report.add("audit events", len(made))
        have.update({u.username: u.pk for u in made})
    users = {k: have[name] for k, name in names.items()}

    slugs = {k: org_slug(k) for k in range(plan.orgs)}
    existing_orgs = {}
    for part in _chunks(list(slugs.values()), 2000):
        existing_orgs.update({o.slug: o for o in Organization.objects.filter(slug__in=part)})
    missing_orgs = [k for k, slug in slugs.items() if slug not in existing_orgs]
    for part in _chunks(missing_orgs, 2000):
        with transaction.atomic():
            made_orgs = _insert(Organization, [
                Organization(slug=slugs[k], name=slugs[k].replace("-", " ").title(),
                             description=f"{slugs[k].replace('-', ' ').title()} publishes models on the hub.",
                             is_consortium_member=k % 3 == 0, created_at=now - HISTORY - timedelta(days=30))
                for k in part])
            rows = [Membership(user_id=users[u], organization=org, role=role, created_at=org.created_at)
                    for k, org in zip(part, made_orgs, strict=True) for u, role in plan.org_members(k)]
            _insert(Membership, rows)
        report.add("organisations", len(made_orgs))
        report.add("memberships", len(rows))
        existing_orgs.update({o.slug: o for o in made_orgs})
    return users, {k: existing_orgs[slug] for k, slug in slugs.items()}, licenses


def _api_key(plan: Plan, k: int, user: Any, now: datetime) -> ApiKey:
    """As api_key_create leaves it (the secret itself is never kept, so none is made)."""
    from registry.services.keys import KEY_PREFIX

    rng = random.Random(f"{plan.seed}-key-{k}")
    public_id = hashlib.sha256(f"{plan.seed}-{k}".encode()).hexdigest()[:8]
    scopes = sorted(rng.choice([["read"], ["read", "write"], ["read", "write"]]))
    return ApiKey(user=user, name=rng.choice(["laptop", "ci", "training cluster", "notebook"]),
                  prefix=f"{KEY_PREFIX}{public_id}", secret_hash=hashlib.sha256(rng.randbytes(32)).hexdigest(),
                  scopes=scopes, created_at=now - timedelta(days=rng.randrange(10, 700)),
                  last_used_at=now - timedelta(days=rng.randrange(8, 30)) if rng.random() < 0.5 else None)


def _key_event(key: ApiKey) -> AuditEvent:
    return AuditEvent(actor_id=key.user_id, actor_label=key.user.username, action="api_key.create",
                      target_type="apikey", target_id=str(key.pk),
                      target_label=f"{key.prefix} ({key.name}) of {key.user.username}",
                      metadata={"scopes": key.scopes, "organization": None}, created_at=key.created_at)


# --- catalogue repos --------------------------------------------------------------------------------------------


def _write_repos(specs: list[RepoSpec], users: dict[int, int], orgs: dict[int, Organization],
                 licenses: dict[str, License], judge: _Judge, report: ScaleSeedReport,
                 plan: Plan) -> tuple[list[int], list[int]]:
    """One batch of repos with their two commits, files, branch, validation and events. Returns (repo ids,
    commit ids)."""
    User = get_user_model()  # noqa: N806
    usernames = dict(User.objects.filter(pk__in={users[s.author] for s in specs}).values_list("pk", "username"))
    repos = []
    for s in specs:
        fields = card_fields(s.card, paths=(GITATTRIBUTES, README, CONFIG))
        fields["description"] = card_summary(s.readme.decode().split("\n---\n", 1)[1])
        ns = s.namespace
        # The commit service sets a known card license on a repo that has none (registry.services.licenses).
        from_card = not s.license_slug and fields["card_license"].lower() in licenses
        repos.append(ModelRepo(
            license_from_card=from_card,
            namespace=ns.slug, name=s.name, owner_org=orgs[ns.org] if ns.org is not None else None,
            owner_user_id=users[ns.user] if ns.user is not None else None, private=s.private, gating=s.gating,
            license=(licenses[s.license_slug] if s.license_slug else licenses[fields["card_license"].lower()]
                     if from_card else None), downloads=s.downloads,
            created_at=s.created_at, updated_at=s.committed_at, **fields))
    _insert(ModelRepo, repos)
    report.add("repos", len(repos))
    # The lineage rows the commit service writes with the card (registry.services.lineage).
    lineage = [row for r, s in zip(repos, specs, strict=True)
               for row in lineage_rows(repo_id=r.pk, lineage=card_lineage(s.card, (GITATTRIBUTES, README, CONFIG)))]
    _insert(RepoBaseModel, lineage)
    report.add("base model links", len(lineage))

    gitattributes = DEFAULT_GITATTRIBUTES.encode()
    attributes = _inline(GITATTRIBUTES, gitattributes)
    # Real git commits, as commit_create writes them (registry.git_objects): the ids a clone would verify.
    first = [_git_commit(Commit(repo=r, author_id=users[s.author], author_name=usernames[users[s.author]],
                                title="initial commit", created_at=s.created_at), [attributes])
             for r, s in zip(repos, specs, strict=True)]
    _insert(Commit, first)
    second = [_git_commit(Commit(repo=r, parent=c1, author_id=c1.author_id, author_name=c1.author_name,
                                 title=s.title, created_at=s.committed_at),
                          [attributes, _inline(README, s.readme), _inline(CONFIG, s.config)])
              for r, s, c1 in zip(repos, specs, first, strict=True)]
    _insert(Commit, second)
    report.add("commits", 2 * len(repos))
    _insert(Branch, [Branch(repo=r, name="main", head=c2, updated_at=c2.created_at)
                     for r, c2 in zip(repos, second, strict=True)])
    report.add("branches", len(repos))

    trees: list[tuple[Commit, list[TreeEntry]]] = []
    for s, c1, c2 in zip(specs, first, second, strict=True):
        trees.append((c1, [attributes]))
        trees.append((c2, [TreeEntry(**{**attributes.__dict__, "changed": False}),
                           _inline(README, s.readme), _inline(CONFIG, s.config)]))
    files = [CommitFile(commit=c, path=e.path, content=e.content, size=e.size, git_oid=e.git_oid)
             for c, tree in trees for e in sorted(tree, key=lambda e: e.path)]
    _insert(CommitFile, files)
    report.add("commit files", len(files))

    judge.load([e.sha256 for _c, tree in trees for e in tree], [e.git_oid for _c, tree in trees for e in tree])
    runs, checks, events = [], [], []
    by_repo = {r.pk: (r, s) for r, s in zip(repos, specs, strict=True)}
    for commit, tree in trees:
        repo, spec = by_repo[commit.repo_id]
        at = commit.created_at + timedelta(seconds=5)
        own = {e.path: judge.file(e, at) for e in sorted(tree, key=lambda e: e.path) if e.changed}
        status, summary, params, dtypes = judge.run(tree, own)
        changed = [e for e in tree if e.changed]
        total = sum(e.size for e in changed)
        run = ValidationRun(repo=repo, commit=commit, status=status, bytes_total=total, bytes_checked=total,
                            attempts=1, summary=summary, created_at=commit.created_at, started_at=at,
                            finished_at=at, heartbeat_at=at, parameter_count=params,
                            parameter_dtypes=dtypes if params is not None else {})
        runs.append(run)
        checks.append([(e, own[e.path]) for e in sorted(changed, key=lambda e: e.path)])
        # In the order the services write them: the change's own event, then the worker's.
        actor = {"ip": spec.ip, "label": usernames[users[spec.author]], "actor_id": users[spec.author]}
        if commit.parent_id is None:
            events.append(_event("repo.create", repo, commit.created_at,
                                 {"private": spec.private, "gating": spec.gating}, **actor))
        else:
            if repo.license_from_card:  # the card's commit sets the license first, then records itself
                events.append(_event("repo.license_from_card", repo, commit.created_at,
                                     {"license": repo.license.slug, "before": None}, **actor))
            events.append(_event("commit.create", repo, commit.created_at, {
                "commit": commit.oid, "branch": "main", "title": commit.title[:200], "added": 2, "deleted": 0,
                "copied": 0}, **actor))
        events.append(_event("validation.finish", repo, at, {"commit": commit.oid, "status": status}))
    _insert(ValidationRun, runs)
    file_checks = [FileCheck(run=run, path=e.path, sha256=e.sha256, size=e.size, status=j.status, checks=j.checks,
                             summary=j.summary) for run, pairs in zip(runs, checks, strict=True) for e, j in pairs]
    _insert(FileCheck, file_checks)
    _insert(ContentVerdict, judge.new)
    _insert(ContentTensor, judge.tensor_rows())
    report.add("validation runs", len(runs))
    report.add("file checks", len(file_checks))
    report.add("content verdicts", len(judge.new))

    days = [d for r, s in zip(repos, specs, strict=True) for d in _download_days(plan, r, s)]
    _insert(DownloadDay, days)
    report.add("download days", len(days))
    acceptances, accept_events = _acceptances(plan, repos, specs, users, usernames)
    _insert(LicenseAcceptance, acceptances)
    report.add("license acceptances", len(acceptances))
    events += accept_events
    _insert(AuditEvent, events)
    report.add("audit events", len(events))
    return [r.pk for r in repos], [c.pk for c in first + second]


def _git_commit(commit: Commit, tree: Sequence[TreeEntry]) -> Commit:
    """`commit` with its git object and id: the tree of `tree`, its parent's id, the author and second of
    `created_at`, its title (registry.git_objects, as commit_create builds them)."""
    root = next(f.oid for f in folders_of((e.path, e.git_oid, e.size) for e in tree) if f.path == "")
    signature = hub_signature(commit.author_name, int(commit.created_at.timestamp()))
    commit.raw = commit_body(tree=root, parents=[commit.parent.oid] if commit.parent else [], author=signature,
                             committer=signature, message=commit_message(commit.title))
    commit.oid = object_id("commit", commit.raw)
    return commit


def _inline(path: str, content: bytes) -> TreeEntry:
    return TreeEntry(path=path, size=len(content), git_oid=git_blob_sha1(content),
                     sha256=hashlib.sha256(content).hexdigest(), content=content)


def _event(action: str, repo: ModelRepo, at: datetime, metadata: dict[str, Any], *,
           ip: str | None = None, label: str = "system", actor_id: int | None = None) -> AuditEvent:
    """An AuditEvent as audit_record writes it for a repo target."""
    return AuditEvent(actor_id=actor_id, actor_label=label, action=action, target_type="modelrepo",
                      target_id=str(repo.pk), target_label=repo.repo_id, metadata=metadata, ip=ip, created_at=at)


def _download_days(plan: Plan, repo: ModelRepo, spec: RepoSpec) -> list[DownloadDay]:
    """The last 30 days' share of a repo's downloads, on a few days (repo_download_record's daily rows)."""
    if not spec.downloads:
        return []
    rng = random.Random(f"{plan.seed}-days-{spec.index}")
    recent = max(1, spec.downloads // 4)
    today = timezone.now().date()
    days = sorted({today - timedelta(days=rng.randrange(30)) for _ in range(rng.randint(1, 5))})
    days = [d for d in days if d >= spec.created_at.date()] or [today]
    counts = [recent // len(days)] * len(days)
    counts[0] += recent - sum(counts)
    return [DownloadDay(repo=repo, day=d, count=c) for d, c in zip(days, counts, strict=True) if c]


def _acceptances(plan: Plan, repos: list[ModelRepo], specs: list[RepoSpec], users: dict[int, int],
                 usernames: dict[int, str]) -> tuple[list[LicenseAcceptance], list[AuditEvent]]:
    """A few users accepted each gated repo's license (license_accept): approved at once, or pending for manual
    gating."""
    User = get_user_model()  # noqa: N806
    rows, events = [], []
    wanted: dict[int, list[int]] = {}
    for repo, spec in zip(repos, specs, strict=True):
        if spec.gating == ModelRepo.Gating.NONE:
            continue
        rng = random.Random(f"{plan.seed}-accept-{spec.index}")
        wanted[repo.pk] = sorted({rng.randrange(plan.users) for _ in range(rng.randint(0, 6))})
    names = dict(User.objects.filter(pk__in={users[u] for us in wanted.values() for u in us})
                 .values_list("pk", "username"))
    names.update(usernames)
    for repo, spec in zip(repos, specs, strict=True):
        for n, u in enumerate(wanted.get(repo.pk, [])):
            auto = spec.gating == ModelRepo.Gating.AUTO
            at = spec.committed_at + timedelta(hours=n + 1)
            status = LicenseAcceptance.Status.ACCEPTED if auto else LicenseAcceptance.Status.PENDING
            version = repo.license.version
            rows.append(LicenseAcceptance(user_id=users[u], repo=repo, license=repo.license, license_version=version,
                                          status=status, answers={}, ip=spec.ip, created_at=at,
                                          decided_at=at if auto else None))
            events.append(_event("license.accept", repo, at, {"license_version": version, "status": status},
                                 ip=spec.ip, label=names[users[u]], actor_id=users[u]))
    return rows, events


# --- the big repo, through the services ------------------------------------------------------------------------


def _big_repo(plan: Plan, users: dict[int, int], files: int, report: ScaleSeedReport, say: Log) -> int | None:
    """`kestrel-labs/kestrel-trainer-logs`: repo_create, the shards ingested with blob_ingest_stream, one
    commit_create of `files` paths in ~files/100 folders, then its validation run finished by `_Judge`. Returns the
    repo id when it was made."""
    from registry.services.blobs import blob_ingest_stream
    from registry.services.commits import AddBlob, AddInline, commit_create
    from registry.services.repos import repo_create
    from registry.services.validation import validation_run_create

    namespace = org_slug(0)
    if ModelRepo.objects.filter(namespace=namespace, name=BIG_REPO_NAME).exists():
        return None
    actor = get_user_model().objects.get(pk=users[plan.org_admin(0)])
    t = time.perf_counter()
    with transaction.atomic():
        repo = repo_create(actor=actor, namespace=namespace, name=BIG_REPO_NAME)
        folders = max(1, round(files / FILES_PER_FOLDER))
        operations: list[AddInline | AddBlob] = [AddInline(README, _render_card(
            {"license": "apache-2.0", "language": ["ko", "en"], "pipeline_tag": "text-generation",
             "library_name": "transformers", "tags": ["training-logs", "checkpoints"]},
            BIG_REPO_NAME, "Checkpoints and evaluation logs of a training run, one folder per saved step.",
            f"{namespace}/{BIG_REPO_NAME}").encode())]
        for f in range(folders):
            per = files // folders + (1 if f < files % folders else 0) - (1 if f == 0 else 0)
            folder = f"checkpoint-{(f + 1) * 500:07d}"
            for k in range(per):
                if k == 0:
                    blob = blob_ingest_stream(stream=io.BytesIO(_tiny_safetensors(plan.seed, f)), repo=repo,
                                              actor=actor)
                    operations.append(AddBlob(f"{folder}/model.safetensors", blob.sha256, blob.size))
                    report.add("blobs", 1)
                elif k == 1:
                    operations.append(AddInline(f"{folder}/trainer_state.json", json.dumps(
                        {"global_step": (f + 1) * 500, "epoch": round((f + 1) / folders, 4)}).encode()))
                else:
                    operations.append(AddInline(f"{folder}/eval-{k:03d}.json", json.dumps(
                        {"step": (f + 1) * 500, "task": k, "loss": round(2.0 / (f + k + 1), 6)}).encode()))
        commit_create(actor=actor, repo=repo, operations=operations,
                      title="Upload folder using huggingface_hub")
    report.add("repos", 1)
    report.add("commits", 2)
    report.add("commit files", files + 1)
    say(f"big repo: {files} files in {folders} folders committed through commit_create "
        f"({time.perf_counter() - t:.1f}s)")
    t = time.perf_counter()
    for commit in Commit.objects.filter(repo=repo).order_by("pk"):
        # commit_create's hook made the run (and its Job) once the transaction committed; made here when hooks
        # are deferred (inside a test's transaction). Either way the same run.
        run = validation_run_create(commit=commit, queue=False)
        if not run.is_finished:
            _finish_run(run, report)
    say(f"big repo: validated ({time.perf_counter() - t:.1f}s)")
    return repo.pk


def _tiny_safetensors(seed: int, n: int) -> bytes:
    """A valid safetensors file with one small F32 tensor (real bytes for the validator)."""
    rng = random.Random(f"{seed}-shard-{n}")
    data = struct.pack("<64f", *(rng.gauss(0.0, 0.02) for _ in range(64)))
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "weight": {"dtype": "F32", "shape": [8, 8], "data_offsets": [0, len(data)]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


def _finish_run(run: ValidationRun, report: ScaleSeedReport) -> None:
    """A pending run that commit_create's hook queued, finished as the worker would (its Job done, as a worker
    leaves it), with its FileChecks updated in bulk."""
    judge = _Judge()
    entries = []
    for f in CommitFile.objects.filter(commit_id=run.commit_id).select_related("blob").order_by("path").iterator(
            chunk_size=2000):
        content = bytes(f.content) if f.content is not None else None
        entries.append(TreeEntry(path=f.path, size=f.size, git_oid=f.git_oid,
                                 sha256=f.blob.sha256 if f.blob_id else hashlib.sha256(content or b"").hexdigest(),
                                 content=content, storage_key=f.blob.storage_key if f.blob_id else ""))
    pending = {fc.path: fc for fc in run.files.all()}
    for entry in entries:
        entry.changed = entry.path in pending
    judge.load([e.sha256 for e in entries], [e.git_oid for e in entries])
    now = timezone.now()
    own = {e.path: judge.file(e, now) for e in entries if e.changed}
    status, summary, parameters, dtypes = judge.run(entries, own)
    for path, judged in own.items():
        fc = pending[path]
        fc.status, fc.checks, fc.summary = judged.status, judged.checks, judged.summary
    with transaction.atomic():
        FileCheck.objects.bulk_update(list(pending.values()), ["status", "checks", "summary"], batch_size=1000)
        _insert(ContentVerdict, judge.new)
        _insert(ContentTensor, judge.tensor_rows())
        ValidationRun.objects.filter(pk=run.pk).update(
            status=status, summary=summary, attempts=1, started_at=now, finished_at=now, heartbeat_at=now,
            bytes_checked=run.bytes_total, error="", parameter_count=parameters,
            parameter_dtypes=dtypes if parameters is not None else {})
        if parameters and Branch.objects.filter(repo_id=run.repo_id, name="main", head_id=run.commit_id).exists():
            ModelRepo.objects.filter(pk=run.repo_id).update(parameter_count=parameters, parameter_dtypes=dtypes)
        AuditEvent.objects.create(actor=None, actor_label="system", action="validation.finish",
                                  target_type="modelrepo", target_id=str(run.repo_id),
                                  target_label=run.repo.repo_id, metadata={"commit": run.commit.oid,
                                                                           "status": status}, created_at=now)
        Job.objects.filter(task="registry.validate_commit", key=run.pk, state=Job.State.QUEUED).update(
            state=Job.State.DONE, attempts=1, worker=SEED_WORKER, finished_at=now, updated_at=now, lease_until=None,
            due_at=None)
    report.add("file checks", len(pending))
    report.add("content verdicts", len(judge.new))
    report.add("audit events", 1)


# --- audit history ----------------------------------------------------------------------------------------------

# (action, weight, target kind) of the history filler: mostly commits and license requests, as on a busy hub.
HISTORY_ACTIONS = (
    ("commit.create", 40, "repo"), ("license.accept", 12, "repo"), ("validation.finish", 12, "repo"),
    ("repo.update_settings", 5, "repo"), ("tag.create", 4, "repo"), ("branch.create", 3, "repo"),
    ("blob.upload", 6, "repo"), ("repo.create", 4, "repo"), ("api_key.create", 3, "key"),
    ("api_key.revoke", 1, "key"), ("license.approve", 2, "repo"), ("license.reject", 1, "repo"),
    ("org.member_add", 1, "org"), ("org.member_role", 1, "org"), ("release.request", 1, "repo"),
    ("release.approve", 1, "repo"), ("release.publish", 1, "repo"), ("repo.move", 1, "repo"),
    ("repo.delete", 1, "repo"), ("inference.rerun", 1, "repo"), ("validation.rerun", 1, "repo"),
)
assert all(action in AUDIT_ACTIONS for action, _w, _k in HISTORY_ACTIONS)


def _audit_history(plan: Plan, users: dict[int, int], total: int, now: datetime, report: ScaleSeedReport,
                   say: Log) -> None:
    """Older events until the table holds `total`: many actors (a few very active), a year of history."""
    have = AuditEvent.objects.count()
    missing = total - have
    if missing <= 0:
        return
    User = get_user_model()  # noqa: N806
    names = dict(User.objects.filter(pk__in=users.values()).values_list("pk", "username"))
    repo_rows = list(ModelRepo.objects.order_by("pk").values_list("pk", "namespace", "name"))
    org_rows = list(Organization.objects.order_by("pk").values_list("pk", "slug"))
    if not repo_rows or not org_rows:
        return
    actions = [a for a, _w, _k in HISTORY_ACTIONS]
    weights = [w for _a, w, _k in HISTORY_ACTIONS]
    kinds = {a: k for a, _w, k in HISTORY_ACTIONS}
    start_at = (AuditEvent.objects.aggregate(n=Max("id"))["n"] or 0)
    rng = random.Random(f"{plan.seed}-audit-{start_at}")
    span = int(AUDIT_SPAN.total_seconds())
    t = time.perf_counter()
    made = 0
    while made < missing:
        batch = []
        for action in rng.choices(actions, weights, k=min(AUDIT_BATCH, missing - made)):
            # Many actors, a few of them very active: the first users' share falls off like 1/rank.
            user = users[int(plan.users * rng.random() ** 3)] if rng.random() < 0.9 else None
            at = now - timedelta(seconds=rng.randrange(span))
            kind = kinds[action]
            if kind == "repo":
                pk, ns, name = repo_rows[rng.randrange(len(repo_rows))]
                target = ("modelrepo", str(pk), f"{ns}/{name}")
            elif kind == "org":
                pk, slug = org_rows[rng.randrange(len(org_rows))]
                target = ("organization", str(pk), slug)
            else:
                target = ("apikey", str(rng.randrange(1, plan.users)), f"hub_{rng.randbytes(4).hex()} (ci)")
            batch.append(AuditEvent(
                actor_id=user, actor_label=names[user] if user else "system", action=action,
                target_type=target[0], target_id=target[1], target_label=target[2],
                metadata=_history_metadata(action, rng), created_at=at,
                ip=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" if user else None))
        _insert(AuditEvent, batch)
        made += len(batch)
        report.add("audit events", len(batch))
        if made % (AUDIT_BATCH * 40) == 0 or made == missing:
            elapsed = time.perf_counter() - t
            say(f"audit: {have + made:,}/{total:,} ({elapsed:.0f}s, {made / max(elapsed, 1e-9):,.0f} rows/s)")


def _history_metadata(action: str, rng: random.Random) -> dict[str, Any]:
    if action == "commit.create":
        return {"commit": rng.randbytes(20).hex(), "branch": "main", "title": rng.choice(COMMIT_TITLES),
                "added": rng.randint(1, 12), "deleted": rng.randint(0, 2), "copied": 0}
    if action in ("validation.finish", "validation.rerun", "inference.rerun"):
        return {"commit": rng.randbytes(20).hex(), "status": rng.choice(["passed", "passed", "warning", "failed"])}
    if action == "license.accept":
        return {"license_version": 1, "status": rng.choice(["accepted", "pending"])}
    if action in ("tag.create", "branch.create"):
        return {action.split(".")[0]: f"v{rng.randint(0, 3)}.{rng.randint(0, 9)}", "commit": rng.randbytes(20).hex()}
    if action == "repo.update_settings":
        return {"private": rng.random() < 0.5}
    return {}
