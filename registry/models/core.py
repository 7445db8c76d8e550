"""The hub's data: who owns what, what bytes exist, and which commits point at them.

Invariants the services rely on are constraints here, so a bug in a service fails loudly
in the database instead of corrupting history.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower, Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.exceptions import InvalidInput
from registry.names import check_name, check_namespace
from registry.tree_index import PathOrder


def validate_repo_part(value: str) -> None:
    """Django validator for repo, organisation and namespace names (forms, admin): the rule of registry.names."""
    try:
        check_name(value)
    except InvalidInput as exc:
        raise ValidationError(exc.message) from exc


def validate_namespace(value: str) -> None:
    """Django validator for names that own repos (organisation slugs): the name rule, minus reserved words."""
    try:
        check_namespace(value)
    except InvalidInput as exc:
        raise ValidationError(exc.message) from exc


class Organization(models.Model):
    slug = models.CharField(max_length=96, unique=True, validators=[validate_namespace])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    website = models.URLField(blank=True)
    is_consortium_member = models.BooleanField(
        default=True, help_text="Consortium members may sign off releases and see member-only tooling."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]
        constraints = [models.UniqueConstraint(Lower("slug"), name="uniq_org_slug_ci")]

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        """An organisation and a user can't share a namespace (repo ids would be ambiguous), in any case."""
        from django.contrib.auth import get_user_model

        if self.slug and get_user_model().objects.filter(username__iexact=self.slug).exists():
            raise ValidationError({"slug": f"{self.slug!r} is already a user's namespace"})


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Admin")
        WRITE = "write", _("Write")
        READ = "read", _("Read")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.READ)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership")]
        ordering = ["organization__slug", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


class License(models.Model):
    """A license text. Editing the text bumps `version`; acceptances are tied to a version."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    text = models.TextField(help_text="Markdown")
    version = models.PositiveIntegerField(default=1)
    url = models.URLField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"


class ModelRepo(models.Model):
    class Gating(models.TextChoices):
        NONE = "none", "Open"
        AUTO = "auto", "Gated, automatic approval"
        MANUAL = "manual", "Gated, manual approval"

    namespace = models.CharField(max_length=96, validators=[validate_repo_part])
    name = models.CharField(max_length=96, validators=[validate_repo_part])
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="repos"
    )
    owner_org = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="repos"
    )
    private = models.BooleanField(default=False)
    gating = models.CharField(max_length=8, choices=Gating.choices, default=Gating.NONE)
    gating_fields = models.JSONField(
        default=list, blank=True,
        help_text='Extra questions asked on license acceptance: [{"name", "label", "type", "required"}]',
    )
    license = models.ForeignKey(License, null=True, blank=True, on_delete=models.PROTECT, related_name="repos")
    license_from_card = models.BooleanField(
        default=False, help_text="The license was set from main's model card (`license:`) and follows it; an "
                                 "owner's explicit choice clears this and is never overridden.")
    disabled = models.BooleanField(default=False, help_text="Taken down: nothing can be downloaded.")
    disabled_reason = models.TextField(blank=True)
    # Cached from the model card (README.md front matter) of the default branch.
    description = models.TextField(blank=True)
    card_data = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    pipeline_tag = models.CharField(max_length=64, blank=True)
    library_name = models.CharField(max_length=64, blank=True)
    languages = models.JSONField(default=list, blank=True)
    card_license = models.CharField(max_length=64, blank=True, help_text="license id from the model card")
    # Cached from validation.
    parameter_count = models.BigIntegerField(null=True, blank=True)
    parameter_dtypes = models.JSONField(
        default=dict, blank=True, help_text='Parameters per dtype from the safetensors headers: {"F32": 123}')
    downloads = models.PositiveBigIntegerField(default=0)
    likes = models.PositiveIntegerField(
        default=0, help_text="RepoLike rows of this repo, maintained in the like's transaction (services.likes).")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Derived: the full-text document of id, task, library, tags and description (registry.models.catalogue.
    # search_document), kept by registry.services.catalogue on PostgreSQL; NULL on SQLite, which searches with LIKE.
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="uniq_repo_id"),
            # Names are unique within a namespace whatever their case, as on the Hub (registry.names).
            models.UniqueConstraint(Lower("namespace"), Lower("name"), name="uniq_repo_id_ci"),
            models.CheckConstraint(
                condition=(Q(owner_user__isnull=False, owner_org__isnull=True)
                           | Q(owner_user__isnull=True, owner_org__isnull=False)),
                name="repo_has_exactly_one_owner",
            ),
        ]
        # Keyset pagination of the lists (registry.selectors.catalogue): each sort order, with the id as the
        # tie-breaker, is one index range whatever the page.
        indexes = [
            models.Index(fields=["downloads", "id"], name="repo_downloads_id"),
            models.Index(fields=["likes", "id"], name="repo_likes_id"),
            models.Index(fields=["updated_at", "id"], name="repo_updated_id"),
            models.Index(fields=["created_at", "id"], name="repo_created_id"),
            models.Index(fields=["pipeline_tag"], name="repo_pipeline_tag"),
            models.Index(fields=["library_name"], name="repo_library_name"),
            models.Index(fields=["card_license"], name="repo_card_license"),
            models.Index(Lower("name"), name="repo_name_ci"),  # a search's exact-name tier
        ]
        ordering = ["namespace", "name"]

    def __str__(self) -> str:
        return self.repo_id

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_gated(self) -> bool:
        return self.gating != self.Gating.NONE


class Blob(models.Model):
    """Content-addressed bytes in the blob store, shared by every commit that holds them."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveBigIntegerField()
    storage_key = models.CharField(max_length=255)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    rejected_reason = models.TextField(blank=True)
    multipart_upload_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    xet_hash = models.CharField(
        max_length=64, blank=True, db_index=True,
        help_text="Uploaded over Xet: the file's Xet hash (registry.models.xet.XetFile). The whole-file bytes at "
                  "storage_key are written by a worker that reconstructs and verifies them.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="blob_sha256_hex"),
        ]

    def __str__(self) -> str:
        return f"{self.sha256[:12]}… ({self.size} bytes, {self.state})"


class Commit(models.Model):
    """A commit of a repo: a real git commit object (`raw`, its body) whose SHA-1 is `oid` (registry.git_objects).
    Ids are content addressed, so two repos may hold the same commit: an id is unique within its repo."""

    oid = models.CharField(max_length=40)
    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="commits")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    author_name = models.CharField(max_length=150)
    title = models.CharField(max_length=500)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    raw = models.BinaryField(null=True, blank=True, editable=False,
                             help_text="The git commit object's body; its SHA-1 (as a git 'commit') is the oid")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(oid__regex=r"^[0-9a-f]{40}$"), name="commit_oid_hex"),
            models.UniqueConstraint(fields=["repo", "oid"], name="uniq_commit_repo_oid"),
        ]
        # An id or its prefix across repos (the admin's search, registry.selectors.admin.hex_matches).
        indexes = [models.Index(fields=["oid"], name="commit_oid")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.oid[:8]} {self.title}"


class CommitAlias(models.Model):
    """An id a commit had before commit ids became git ids (migration 0031): revisions pinned by users to the old id
    still resolve, to the same commit."""

    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="+")
    old_oid = models.CharField(max_length=40)
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "old_oid"], name="uniq_commit_alias")]
        verbose_name_plural = "commit aliases"

    def __str__(self) -> str:
        return f"{self.old_oid[:8]} → {self.commit_id}"


class CommitFile(models.Model):
    """One path of a commit's full tree: either a blob in the store, or small inline content."""

    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    blob = models.ForeignKey(Blob, null=True, blank=True, on_delete=models.PROTECT, related_name="commit_files")
    content = models.BinaryField(null=True, blank=True)
    size = models.PositiveBigIntegerField()
    # git blob sha1 of the content (inline files) or of the LFS pointer (blob files), as the Hub reports.
    git_oid = models.CharField(max_length=40)
    # The folder holding the file ('' at the root): a folder's files are listed a page at a time by index.
    parent = models.CharField(max_length=1024, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["commit", "path"], name="uniq_commit_path"),
            models.CheckConstraint(
                condition=(Q(blob__isnull=False, content__isnull=True) | Q(blob__isnull=True, content__isnull=False)),
                name="commitfile_blob_xor_inline",
            ),
        ]
        indexes = [
            # Keyset pages in byte order (registry.tree_index.PathOrder): one folder's files, and a recursive
            # listing (every path, or a folder's range of paths).
            models.Index(F("commit"), F("parent"), PathOrder("path"), name="commitfile_folder_page"),
            models.Index(F("commit"), PathOrder("path"), name="commitfile_path_page"),
        ]
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path

    @property
    def is_lfs(self) -> bool:
        return self.blob_id is not None


class CommitDir(models.Model):
    """One folder of a commit's tree (the root too, as ''), written with the commit (registry.services.trees).

    Listing a folder or a page of a tree reads a page of these and of CommitFile rows by index, and a folder's id
    (`oid`, registry.tree_index.directory_oid) is computed once per commit instead of from every path below it on
    each request. Immutable, like the commit.
    """

    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="dirs", db_index=False)  # see Meta
    path = models.CharField(max_length=1024, blank=True)
    parent = models.CharField(max_length=1024, blank=True, help_text="'' for top-level folders and the root")
    oid = models.CharField(max_length=40)
    files = models.PositiveIntegerField(help_text="Files below the folder, at any depth")
    size = models.PositiveBigIntegerField(help_text="Their bytes")

    class Meta:
        constraints = [models.UniqueConstraint(F("commit"), PathOrder("path"), name="uniq_commitdir_path")]
        indexes = [models.Index(F("commit"), F("parent"), PathOrder("path"), name="commitdir_folder_page")]

    def __str__(self) -> str:
        return self.path or "/"


class Branch(models.Model):
    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="branches")
    name = models.CharField(max_length=255)
    head = models.ForeignKey(Commit, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "name"], name="uniq_branch")]
        ordering = ["name"]
        verbose_name_plural = "branches"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="tags_set")
    name = models.CharField(max_length=255)
    commit = models.ForeignKey(Commit, on_delete=models.PROTECT, related_name="+")
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "name"], name="uniq_tag")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LicenseAcceptance(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        PENDING = "pending", "Pending"
        REJECTED = "rejected", "Rejected"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="acceptances")
    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="acceptances")
    license = models.ForeignKey(License, null=True, blank=True, on_delete=models.PROTECT)
    license_version = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices)
    answers = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the deciding admin told a rejected requester (shown to them on the model page); "" unless rejected.
    rejection_reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "repo", "license_version"], name="uniq_acceptance_per_version"),
        ]
        # The HF API's access-request lists: keyset pages of one repo's requests in one status (by id).
        indexes = [models.Index(fields=["repo", "license_version", "status", "id"], name="acceptance_repo_status")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} → {self.repo} v{self.license_version}: {self.status}"


class ApiKey(models.Model):
    """A bearer token. Only a SHA-256 of the secret is kept; the visible prefix finds the row."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys",
        help_text="When set, the key can write only to this organisation's repos.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def has_scope(self, scope: str) -> bool:
        order = ["read", "write", "admin"]
        return any(order.index(s) >= order.index(scope) for s in self.scopes if s in order)


class AuditEvent(models.Model):
    """One change, who made it and when. A million rows is normal: every way the admin lists them (newest first,
    by action, by actor, by target, by date) has an index that yields the rows in that order."""

    # No index of its own: audit_actor_created below starts with it.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              db_index=False)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=300, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Newest first (read backwards), and date ranges.
            models.Index(fields=["created_at", "id"], name="audit_created"),
            models.Index(fields=["action", "created_at", "id"], name="audit_action_created"),
            models.Index(fields=["actor", "created_at", "id"], name="audit_actor_created"),
            models.Index(fields=["target_type", "target_id", "created_at", "id"], name="audit_target_created"),
            # The admin's search: a username or a target (repo id, organisation, key), any case (iexact).
            models.Index(Upper("actor_label"), F("created_at"), F("id"), name="audit_actor_label_ci"),
            models.Index(Upper("target_label"), F("created_at"), F("id"), name="audit_target_label_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_label}"


# --- Checkpoint validation ---


class ValidationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    WARNING = "warning", "Warning"
    FAILED = "failed", "Failed"


VALIDATION_FINISHED = (ValidationStatus.PASSED, ValidationStatus.WARNING, ValidationStatus.FAILED)


class ValidationRun(models.Model):
    """The checks of one commit: its added or changed files, then repo-level checks on its full tree."""

    Status = ValidationStatus

    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="validation_runs")
    commit = models.OneToOneField(Commit, on_delete=models.CASCADE, related_name="validation_run")
    status = models.CharField(max_length=8, choices=ValidationStatus.choices,
                              default=ValidationStatus.PENDING)
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_checked = models.PositiveBigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True,
                             help_text="Why the last attempt stopped (storage errors, time limits).")
    summary = models.JSONField(default=dict, blank=True, help_text="Repo-level checks on the commit's tree.")
    # The commit's safetensors parameters (HF_COMMUNITY.md §3): set once every counted file's header is read,
    # which may be before the run finishes; model_info at this commit reports them.
    parameter_count = models.BigIntegerField(null=True, blank=True)
    parameter_dtypes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="validationrun_status_hb")]

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.commit_id}: {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in VALIDATION_FINISHED


class FileCheck(models.Model):
    """One added or changed path of a run's commit, with the validator's findings."""

    Status = ValidationStatus

    run = models.ForeignKey(ValidationRun, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=8, choices=ValidationStatus.choices,
                              default=ValidationStatus.PENDING)
    checks = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="uniq_filecheck_run_path")]
        indexes = [
            # "Is this content being read by a run right now?" (a run waiting for verdicts of carried-over files,
            # registry.services.validation): unfinished checks only, a small index.
            models.Index(fields=["sha256"], condition=Q(status__in=["pending", "running"]),
                         name="filecheck_unfinished_sha256"),
        ]
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.path}: {self.status}"


class ContentVerdict(models.Model):
    """The validator's verdict on one content (by sha256), reused by every later commit and repo holding it.

    `format_hint` is what the file name alone says about the format (the validator uses names where content
    is ambiguous): a verdict is reused only for paths with the same hint. `git_oid` (git blob sha1 of the
    content, set when it was seen as an inline file) lets /resolve find verdicts of inline files in its one
    lookup query. `stale` verdicts are not reused (a re-run asked for a fresh look) but still quarantine.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    git_oid = models.CharField(max_length=40, blank=True, db_index=True)
    size = models.PositiveBigIntegerField(default=0)
    format_hint = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=8, choices=ValidationStatus.choices)
    reason = models.TextField(blank=True, help_text="The failed checks' messages (quarantine reason).")
    checks = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    stale = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["status"], name="contentverdict_status"),
            # Quarantine lookups (registry.selectors.validation) read failed verdicts only: small indexes.
            models.Index(fields=["sha256"], condition=Q(status="failed"), name="contentverdict_failed_sha256"),
            models.Index(fields=["git_oid"], condition=Q(status="failed"), name="contentverdict_failed_gitoid"),
        ]

    def __str__(self) -> str:
        return f"{self.sha256[:12]}…: {self.status}"


class ContentTensor(models.Model):
    """One tensor of a safetensors or GGUF content (by sha256, like ContentVerdict), as its header describes it.

    Written once per content when validation reads the header (idempotent: a content's table never changes), read
    by the repo checks (config.json against the weights) and the tensor viewer, a keyset page at a time by
    (sha256, ordinal). `ordinal` is the tensor's rank by name; `dtype` a safetensors dtype or a ggml type name;
    `shape` as the format stores it.
    """

    sha256 = models.CharField(max_length=64)
    ordinal = models.PositiveIntegerField()
    name = models.TextField()
    dtype = models.CharField(max_length=16)
    shape = models.JSONField(default=list)
    nbytes = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sha256", "ordinal"], name="uniq_contenttensor_ordinal")]
        ordering = ["sha256", "ordinal"]

    def __str__(self) -> str:
        return f"{self.sha256[:12]}…#{self.ordinal} {self.name}"


# --- Inference checks ---


class InferenceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


INFERENCE_FINISHED = (InferenceStatus.PASSED, InferenceStatus.FAILED, InferenceStatus.SKIPPED)


class InferenceCheck(models.Model):
    """One smoke test of a commit's model: load it, generate a few tokens, check logits and tokenizer.

    Several per commit (re-runs keep the history); the newest is the answer.
    """

    Status = InferenceStatus

    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="inference_checks")
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="inference_checks")
    status = models.CharField(max_length=8, choices=InferenceStatus.choices, default=InferenceStatus.PENDING)
    reason = models.TextField(blank=True, help_text="Why it failed or was skipped.")
    metrics = models.JSONField(
        default=dict, blank=True,
        help_text="load_seconds, load_gb_per_s, ttft_seconds, tokens_per_second, peak_memory_bytes, "
                  "perplexity, logits_finite, tokenizer_roundtrip")
    samples = models.JSONField(default=dict, blank=True, help_text="prompt -> generated text")
    device = models.CharField(max_length=64, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    worker_host = models.CharField(max_length=255, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Workers that took it (a lost worker counts)")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life: claimed, files ready, or re-queued by the sweep")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["commit", "-created_at"], name="inferencecheck_commit_created")]

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.commit_id}: {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in INFERENCE_FINISHED
