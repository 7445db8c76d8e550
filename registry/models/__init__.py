"""The hub's data. One module per area; everything is importable from ``registry.models``.

``core`` holds organisations, repos, blobs, commits, refs, licenses, keys, audit, validation and inference checks.
New areas add a module here and re-export its names below.
"""

from registry.models.attachments import Attachment
from registry.models.catalogue import CatalogueFacet
from registry.models.community import PR_REF_PREFIX, Discussion, DiscussionEvent, DiscussionMute, pr_ref
from registry.models.core import (
    INFERENCE_FINISHED,
    VALIDATION_FINISHED,
    ApiKey,
    AuditEvent,
    Blob,
    Branch,
    Commit,
    CommitAlias,
    CommitDir,
    CommitFile,
    ContentTensor,
    ContentVerdict,
    FileCheck,
    InferenceCheck,
    InferenceStatus,
    License,
    LicenseAcceptance,
    Membership,
    ModelRepo,
    Organization,
    Tag,
    ValidationRun,
    ValidationStatus,
    validate_namespace,
    validate_repo_part,
)
from registry.models.downloads import DownloadDay, UserDownload
from registry.models.jobs import HubEvent, Job
from registry.models.likes import RepoLike
from registry.models.lineage import RepoBaseModel
from registry.models.orgs import OrgInvitation
from registry.models.releases import (
    MirrorTarget,
    Release,
    ReleaseAdvisory,
    ReleaseDecision,
    ReleaseMirror,
    RepoFollow,
)
from registry.models.uploads import BlobUpload, RepoBlob
from registry.models.webhooks import Webhook, WebhookDelivery, WebhookWatch
from registry.models.xet import (
    DedupChunk,
    XetFile,
    XetFileRepo,
    XetShard,
    Xorb,
    XorbGrant,
    XorbRepo,
    XorbUploader,
)
from registry.names import NAME_RE, RESERVED_NAMESPACES

__all__ = [
    "Attachment",
    "Webhook",
    "WebhookDelivery",
    "WebhookWatch",
    "PR_REF_PREFIX",
    "Discussion",
    "DiscussionEvent",
    "DiscussionMute",
    "pr_ref",
    "BlobUpload",
    "CatalogueFacet",
    "RepoBlob",
    "RepoBaseModel",
    "RepoLike",
    "MirrorTarget",
    "Release",
    "ReleaseAdvisory",
    "ReleaseDecision",
    "ReleaseMirror",
    "RepoFollow",
    "DedupChunk",
    "XetFile",
    "XetFileRepo",
    "XetShard",
    "Xorb",
    "XorbGrant",
    "XorbRepo",
    "XorbUploader",
    "DownloadDay",
    "Job",
    "HubEvent",
    "OrgInvitation",
    "UserDownload",
    "NAME_RE",
    "RESERVED_NAMESPACES",
    "validate_namespace",
    "validate_repo_part",
    "Organization",
    "Membership",
    "License",
    "ModelRepo",
    "Blob",
    "Commit",
    "CommitAlias",
    "CommitDir",
    "CommitFile",
    "Branch",
    "Tag",
    "LicenseAcceptance",
    "ApiKey",
    "AuditEvent",
    "ValidationStatus",
    "VALIDATION_FINISHED",
    "ValidationRun",
    "FileCheck",
    "ContentTensor",
    "ContentVerdict",
    "InferenceStatus",
    "INFERENCE_FINISHED",
    "InferenceCheck",
]
