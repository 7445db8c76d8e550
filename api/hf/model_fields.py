"""What `list_models` and `model_info` accept, and the model properties they answer (docs/HF_MODELS_API.md).

Every query parameter huggingface_hub 2.4 can send is either honoured or refused with a 400 whose X-Error-Message
names it; so is anything else. `expand=<property>` (repeated) answers only the listed properties plus `id`, as the
Hub does; each property is computed for a whole page at once (ModelBatch), so a page costs a fixed number of
queries whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from django.http import QueryDict

from api.hf.common import iso
from registry.exceptions import InvalidInput
from registry.models import Commit, CommitFile, ModelRepo
from registry.selectors import hf as hf_selectors
from registry.selectors.lineage import BaseModels, base_models_of, children_counts
from registry.selectors.repos import commit_files
from registry.selectors.tensors import commit_parameters
from registry.selectors.validation import with_quarantine

GATED_WIRE = {ModelRepo.Gating.NONE: False, ModelRepo.Gating.AUTO: "auto", ModelRepo.Gating.MANUAL: "manual"}
CONFIG_PATH = "config.json"
CONFIG_MAX_BYTES = 256 * 1024  # a larger config.json is not answered as `config`

# --- parameters ---------------------------------------------------------------------------------------------------

LIST_PARAMETERS = ("search", "author", "filter", "pipeline_tag", "gated", "num_parameters", "sort", "direction",
                   "limit", "full", "config", "cardData", "expand", "cursor", "language", "library", "license")
INFO_PARAMETERS = ("blobs", "securityStatus", "expand")
REPEATABLE = frozenset({"filter", "expand"})
# Parameters the client can send that this hub can't honour: a 400 saying so, rather than a list that ignores them.
NOT_ON_THIS_HUB = {
    "apps": "this hub keeps no list of the apps that run its models",
    "inference": "no model of this hub is served by inference providers",
    "inference_provider": "no model of this hub is served by inference providers",
}
TRUE_VALUES = frozenset({"1", "true", "yes"})
FALSE_VALUES = frozenset({"0", "false", "no"})


def check_parameters(params: QueryDict, allowed: Sequence[str], *, what: str) -> None:
    """InvalidInput (a 400 naming it) for a parameter `what` does not know or cannot honour, or a single-valued
    one given twice."""
    for key in params:
        if key in NOT_ON_THIS_HUB:
            raise InvalidInput(f"{what}: the parameter {key!r} is not supported here: {NOT_ON_THIS_HUB[key]}")
        if key not in allowed:
            raise InvalidInput(f"{what}: unknown parameter {_shown(key)}; accepted: {', '.join(allowed)}")
        if key not in REPEATABLE and len(params.getlist(key)) > 1:
            raise InvalidInput(f"{what}: the parameter {key!r} may be given only once")


def flag(params: QueryDict, name: str) -> bool:
    """A boolean parameter: absent or 0/false/no → False, 1/true/yes → True (any case); else a 400."""
    value = params.get(name)
    if value is None or value.lower() in FALSE_VALUES:
        return False
    if value.lower() in TRUE_VALUES:
        return True
    raise InvalidInput(f"the parameter {name!r} must be true or false, not {_shown(value)}")


def optional_flag(params: QueryDict, name: str) -> bool | None:
    """A boolean filter: None when absent or empty."""
    return flag(params, name) if params.get(name) not in (None, "") else None


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


# --- expand ---------------------------------------------------------------------------------------------------------

# Properties the client knows (ExpandModelProperty_T) that this hub does not compute: asked for, they are a 400.
EXPAND_UNAVAILABLE = {
    "evalResults": "evaluation results are not collected here (the card's `model-index` is: expand=model-index)",
    "gguf": "GGUF metadata is not extracted here",
    "mask_token": "mask tokens are not read from configs here",
    "resourceGroup": "this hub has no resource groups",
    "transformersInfo": "transformers auto classes are not derived here (expand=config gives config.json)",
    "trendingScore": "this hub computes no trending score",
}
# Properties only model_info answers (each costs queries per repo, which a page of a hundred can't afford).
EXPAND_INFO_ONLY = {"usedStorage"}


def expand_properties(params: QueryDict, *, listing: bool) -> list[str] | None:
    """The `expand` values in order, each once (None when there are none); a 400 for one this hub doesn't know
    or can't answer."""
    values = params.getlist("expand")
    if not values:
        return None
    wanted: list[str] = []
    for value in values:
        if value in EXPAND_UNAVAILABLE:
            raise InvalidInput(f"expand={value} is not available on this hub: {EXPAND_UNAVAILABLE[value]}")
        if value not in PRODUCERS:
            raise InvalidInput(f"unknown expand property {_shown(value)}; available: {', '.join(sorted(PRODUCERS))}")
        if listing and value in EXPAND_INFO_ONLY:
            raise InvalidInput(f"expand={value} is answered by model_info only, not by list_models")
        if value not in wanted:
            wanted.append(value)
    return wanted


OMIT: Any = object()  # a producer's answer when the repo has no such property (the key is left out)


class ModelBatch:
    """The properties of a page of repos, each read once for the whole page, when first asked for.

    `heads`: repo id → the commit whose files (`sha`, `siblings`, `config`) are meant (model_info: the revision it
    resolved); by default each repo's main head. `single`: siblings carry their quarantine status, and
    `safetensors` is the head commit's own count (model_info); `pinned`: a revision was named in the URL, so a
    commit not yet counted has no `safetensors` (rather than main's last counts)."""

    def __init__(self, *, viewer: Any, repos: Sequence[ModelRepo], heads: dict[int, Commit] | None = None,
                 single: bool = False, blobs: bool = False, pinned: bool = False) -> None:
        self.viewer = viewer
        self.pinned = pinned
        self.repos = list(repos)
        self._heads = heads
        self.single = single
        self.blobs = blobs
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    @property
    def heads(self) -> dict[int, Commit]:
        if self._heads is None:
            self._heads = hf_selectors.repo_heads(repos=self.repos) if self.repos else {}
        return self._heads

    def files(self, repo: ModelRepo) -> list[Any]:
        head = self.heads.get(repo.pk)
        if head is None:
            return []
        if self.single:
            return self._once(f"files:{head.pk}", lambda: list(with_quarantine(commit_files(commit=head))))
        return self._once("files", lambda: hf_selectors.files_by_commit(commits=list(self.heads.values()))
                          ).get(head.pk, [])

    def base_models(self, repo: ModelRepo) -> BaseModels | None:
        return self._once("bases", lambda: base_models_of(repo_ids=[r.pk for r in self.repos])).get(repo.pk)

    def children(self, repo: ModelRepo) -> dict[str, int]:
        return self._once("children", lambda: children_counts(viewer=self.viewer, repos=self.repos))[repo.pk]

    def config(self, repo: ModelRepo) -> Any:
        head = self.heads.get(repo.pk)
        return self._once("configs", self._load_configs).get(head.pk, OMIT) if head is not None else OMIT

    def _load_configs(self) -> dict[int, dict[str, Any]]:
        """commit id → its config.json as a JSON object (inline files of at most CONFIG_MAX_BYTES), one query."""
        configs: dict[int, dict[str, Any]] = {}
        rows = (CommitFile.objects.filter(commit__in=list(self.heads.values()), path=CONFIG_PATH,
                                          blob__isnull=True, size__lte=CONFIG_MAX_BYTES)
                .values_list("commit_id", "content"))
        for commit_id, content in rows:
            try:
                data = json.loads(bytes(content or b"").decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(data, dict):
                configs[commit_id] = data
        return configs

    def fields(self, repo: ModelRepo, names: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in names:
            value = PRODUCERS[name](repo, self)
            if value is not OMIT:
                out[name] = value
        return out


def sibling(entry: Any, blobs: bool) -> dict[str, Any]:
    """A file as `siblings` lists it; `securityFileStatus` when it is quarantined (rows annotated by
    `with_quarantine`)."""
    from registry.selectors.validation import file_quarantine

    data: dict[str, Any] = {"rfilename": entry.path}
    if hasattr(entry, "quarantine_reason"):  # annotated by `with_quarantine`: no query here
        reason = file_quarantine(commit_file=entry)
        if reason is not None:
            data["securityFileStatus"] = {"status": "unsafe", "message": reason}
    if blobs:
        data["size"] = entry.size
        data["blobId"] = entry.git_oid
        if entry.blob_id:
            data["lfs"] = {"sha256": entry.blob.sha256, "size": entry.size,
                           "pointerSize": hf_selectors.pointer_size(entry.blob.sha256, entry.size)}
    return data


def _safetensors(repo: ModelRepo, batch: ModelBatch) -> Any:
    """HF_COMMUNITY.md §3. model_info: the revision's own counts (its validation run's); until main's newest commit
    is counted, main shows the last counts it had. Lists: each repo's main counts (ModelRepo's copy)."""
    head = batch.heads.get(repo.pk)
    if batch.single and head is not None:
        known, counted = commit_parameters(commit_id=head.pk)
        if known or batch.pinned:
            return counted if counted is not None else OMIT
    if repo.parameter_count is None:
        return OMIT
    return {"parameters": dict(repo.parameter_dtypes or {}), "total": repo.parameter_count}


def _base_models(repo: ModelRepo, batch: ModelBatch) -> Any:
    found = batch.base_models(repo)
    return found.wire() if found is not None else OMIT


def _card_value(key: str) -> Callable[[ModelRepo, ModelBatch], Any]:
    def produce(repo: ModelRepo, _b: ModelBatch) -> Any:
        data = repo.card_data if isinstance(repo.card_data, dict) else {}
        return data[key] if data.get(key) is not None else OMIT

    return produce


def _sha(repo: ModelRepo, batch: ModelBatch) -> Any:
    head = batch.heads.get(repo.pk)
    return head.oid if head is not None else OMIT


PRODUCERS: dict[str, Callable[[ModelRepo, ModelBatch], Any]] = {
    "author": lambda r, _b: r.namespace,
    "baseModels": _base_models,
    "cardData": lambda r, _b: r.card_data or {},
    "childrenModelCount": lambda r, b: sum(b.children(r).values()),
    "config": lambda r, b: b.config(r),
    "createdAt": lambda r, _b: iso(r.created_at),
    "disabled": lambda r, _b: r.disabled,
    "downloads": lambda r, _b: r.downloads,
    "downloadsAllTime": lambda r, _b: r.downloads,  # the hub's counter is all-time already
    "gated": lambda r, _b: GATED_WIRE.get(r.gating, False),
    # No model here is served by inference providers: never "warm" (left out, as the Hub leaves out cold models),
    # and no provider mapping (the InferenceClient asks for it, and then says no provider serves the model).
    "inference": lambda r, _b: OMIT,
    "inferenceProviderMapping": lambda r, _b: [],
    "lastModified": lambda r, _b: iso(r.updated_at),
    "library_name": lambda r, _b: r.library_name or None,
    "likes": lambda r, _b: r.likes,  # the maintained count (registry.services.likes)
    "model-index": _card_value("model-index"),
    "pipeline_tag": lambda r, _b: r.pipeline_tag or None,
    "private": lambda r, _b: r.private,
    "safetensors": _safetensors,
    "sha": _sha,
    "siblings": lambda r, b: [sibling(f, b.blobs) for f in b.files(r)],
    "spaces": lambda r, _b: [],  # this hub hosts no Spaces
    "tags": lambda r, _b: list(r.tags or []),
    "usedStorage": lambda r, _b: hf_selectors.repo_used_storage(repo=r),
    "widgetData": _card_value("widget"),
}
