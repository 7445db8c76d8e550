"""seed_demo: the embedded mode's demo org, users and models; idempotent; needs --force outside DEBUG."""

from __future__ import annotations

import io
import json
import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from registry.models import AuditEvent, Blob, Branch, Commit, CommitFile, Membership, ModelRepo, Organization
from registry.permissions import can_download
from registry.storage import get_store

MODELS = {"hanbit-tiny": ModelRepo.Gating.NONE, "hanbit-tiny-gated": ModelRepo.Gating.AUTO}


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def debug(settings):  # noqa: ANN001, ANN201
    settings.DEBUG = True
    return settings


def test_refuses_outside_debug_without_force(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        seed()
    assert not get_user_model().objects.exists()
    assert not ModelRepo.objects.exists()


def test_force_seeds_outside_debug(db, settings, blob_store):
    settings.DEBUG = False
    seed("--force")
    assert ModelRepo.objects.count() == 2


def test_creates_org_and_users_with_their_roles(db, debug, blob_store):
    output = seed()
    User = get_user_model()  # noqa: N806
    org = Organization.objects.get(slug="consortium")
    assert org.is_consortium_member
    admin, member, developer = (User.objects.get(username=n) for n in ("admin", "member", "developer"))
    assert admin.is_superuser and admin.is_staff
    assert not (member.is_staff or member.is_superuser or developer.is_staff or developer.is_superuser)
    assert Membership.objects.get(user=admin, organization=org).role == Membership.Role.ADMIN
    assert Membership.objects.get(user=member, organization=org).role == Membership.Role.WRITE
    assert not Membership.objects.filter(user=developer).exists()
    for user in (admin, member, developer):
        assert EmailAddress.objects.get(user=user).verified
        # The printed password is the one that works, and it is printed exactly once.
        passwords = re.findall(rf"user '{user.username}' password: (\S+)", output)
        assert len(passwords) == 1
        assert user.check_password(passwords[0])


def test_creates_a_public_and_a_gated_model_with_real_weights(db, debug, blob_store):
    from safetensors.numpy import load

    seed()
    developer = get_user_model().objects.get(username="developer")
    for name, gating in MODELS.items():
        repo = ModelRepo.objects.get(namespace="consortium", name=name)
        assert repo.gating == gating
        assert repo.private is False
        assert repo.owner_org.slug == "consortium"
        assert repo.license is not None
        head = Branch.objects.get(repo=repo, name="main").head
        files = {f.path: f for f in CommitFile.objects.filter(commit=head).select_related("blob")}
        assert {".gitattributes", "README.md", "config.json", "model.safetensors"} <= set(files)
        assert json.loads(bytes(files["config.json"].content))["model_type"] == "demo"
        assert bytes(files["README.md"].content).startswith(b"---\n")
        # The card is cached on the repo.
        assert "demo" in repo.tags
        assert repo.pipeline_tag == "text-generation"
        assert repo.languages == ["ko", "en"]
        assert repo.description
        # The weights are a verified blob whose bytes are a valid safetensors file.
        weights = files["model.safetensors"]
        blob = weights.blob
        assert blob is not None and weights.content is None
        assert blob.state == Blob.State.VERIFIED
        assert blob.size == weights.size
        data = b"".join(get_store().iter_bytes(blob.storage_key))
        assert len(data) == blob.size
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len])
        assert header["linear.weight"]["dtype"] == "F32"
        assert header["linear.weight"]["shape"] == [8, 16]
        tensors = load(data)
        assert tensors["linear.weight"].shape == (8, 16)
        assert tensors["linear.bias"].shape == (8,)
        assert can_download(developer, repo) is (gating == ModelRepo.Gating.NONE)
    # Different seeds: the two models don't share their weights blob.
    assert Blob.objects.count() == 2


def test_second_run_is_idempotent_and_prints_no_password(db, debug, blob_store):
    seed()
    counts = [m.objects.count() for m in (get_user_model(), Organization, Membership, ModelRepo, Commit, Blob,
                                           CommitFile, AuditEvent)]
    output = seed()
    assert "password" not in output.lower()
    assert [m.objects.count() for m in (get_user_model(), Organization, Membership, ModelRepo, Commit, Blob,
                                        CommitFile, AuditEvent)] == counts


def test_existing_users_keep_their_passwords(db, debug, blob_store):
    User = get_user_model()  # noqa: N806
    User.objects.create_user(username="admin", email="admin@example.com", password="mine-1234",
                             is_staff=True, is_superuser=True)
    output = seed()
    assert "user 'admin' password" not in output
    assert User.objects.get(username="admin").check_password("mine-1234")
