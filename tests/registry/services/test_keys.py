"""API keys: shown once and stored hashed, found by prefix, compared in constant time, scoped, revocable."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from django.utils import timezone

from registry import permissions
from registry.exceptions import InvalidInput, PermissionDenied
from registry.models import ApiKey, AuditEvent, Membership, Organization
from registry.services import keys as keys_service
from registry.services.commits import AddInline, commit_create
from registry.services.keys import (
    KEY_PREFIX,
    LAST_USED_RESOLUTION,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
)
from registry.services.repos import repo_create
from tests.fixtures.personas import make_user


def create(user, scopes=("read",), **kwargs):  # noqa: ANN001, ANN201
    return api_key_create(user=user, name=kwargs.pop("name", "laptop"), scopes=list(scopes), **kwargs)


# --- creation: the secret is shown once --------------------------------------------------------

def test_secret_is_returned_once_and_only_its_hash_is_stored(personas):
    key, secret = create(personas.member, ["read", "write"])
    assert secret.startswith(KEY_PREFIX)
    assert secret.startswith(key.prefix + "_")
    assert len(secret) > 40
    row = ApiKey.objects.get(pk=key.pk)
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    tail = secret[len(key.prefix) + 1:]
    for value in model_to_dict(row).values():
        assert secret not in str(value)
        assert tail not in str(value)
    for event in AuditEvent.objects.all():
        assert tail not in f"{event.target_label} {event.metadata} {event.actor_label}"


def test_create_writes_audit_event(personas):
    key, _ = create(personas.member, ["write"], ip="10.0.0.1")
    event = AuditEvent.objects.get(action="api_key.create")
    assert event.actor == personas.member
    assert event.target_id == str(key.pk)
    assert event.metadata == {"scopes": ["write"], "organization": None}
    assert event.ip == "10.0.0.1"


def test_every_key_gets_its_own_prefix_and_secret(personas):
    made = [create(personas.member) for _ in range(5)]
    assert len({k.prefix for k, _ in made}) == 5
    assert len({s for _, s in made}) == 5


@pytest.mark.parametrize("scopes", [[], ["root"], ["read", "delete"]])
def test_scopes_must_be_known_and_non_empty(personas, scopes):
    with pytest.raises(InvalidInput):
        create(personas.member, scopes)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_key_needs_a_short_name(personas, name):
    with pytest.raises(InvalidInput):
        create(personas.member, name=name)


def test_expiry_must_be_at_least_a_day(personas):
    with pytest.raises(InvalidInput):
        create(personas.member, expires_days=0)
    key, _ = create(personas.member, expires_days=30)
    assert timezone.now() + timedelta(days=29) < key.expires_at <= timezone.now() + timedelta(days=30)


# --- authentication ------------------------------------------------------------------------------

def test_secret_authenticates_to_its_key_and_user(personas):
    key, secret = create(personas.member)
    found = api_key_authenticate(secret=secret)
    assert found == key
    assert found.user == personas.member


@pytest.mark.parametrize("mangle", [
    lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # right prefix, wrong secret
    lambda s: s + "x",
    lambda s: s[: len(KEY_PREFIX) + 8],  # the prefix alone
    lambda s: "hub_zzzzzzzz_" + s.split("_", 2)[2],  # wrong prefix, right tail
    lambda s: s.replace(KEY_PREFIX, "hf_", 1),
    lambda s: "",
    lambda s: "garbage",
])
def test_wrong_secrets_do_not_authenticate(personas, mangle):
    _, secret = create(personas.member)
    assert api_key_authenticate(secret=mangle(secret)) is None


def test_lookup_is_by_prefix_and_compare_is_constant_time(personas, monkeypatch, django_assert_num_queries):
    key, secret = create(personas.member)
    calls: list[tuple[str, str]] = []
    real = keys_service.hmac.compare_digest

    def spy(a, b):  # noqa: ANN001, ANN202
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys_service.hmac, "compare_digest", spy)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())  # no write during the count
    with django_assert_num_queries(1) as ctx:
        assert api_key_authenticate(secret=secret) == key
    assert "prefix" in ctx.captured_queries[0]["sql"]
    assert calls == [(key.secret_hash, hashlib.sha256(secret.encode()).hexdigest())]


def test_revoked_key_fails(personas):
    key, secret = create(personas.member)
    api_key_revoke(actor=personas.member, key=key)
    assert api_key_authenticate(secret=secret) is None


def test_expired_key_fails(personas):
    key, secret = create(personas.member, expires_days=1)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_key_authenticate(secret=secret) is None


def test_key_of_inactive_user_fails(personas):
    _, secret = create(personas.member)
    personas.member.is_active = False
    personas.member.save()
    assert api_key_authenticate(secret=secret) is None


def test_last_used_at_is_recorded_but_throttled(personas, django_assert_num_queries):
    key, secret = create(personas.member)
    assert key.last_used_at is None
    api_key_authenticate(secret=secret)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # within the resolution: read only, no write
        api_key_authenticate(secret=secret)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    stale = timezone.now() - LAST_USED_RESOLUTION - timedelta(seconds=5)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    api_key_authenticate(secret=secret)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > stale


# --- revocation ----------------------------------------------------------------------------

def test_owner_revokes_own_key_once(personas):
    key, _ = create(personas.member)
    api_key_revoke(actor=personas.member, key=key, ip="10.0.0.2")
    api_key_revoke(actor=personas.member, key=key)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1


def test_staff_revokes_anyones_key(personas):
    staff = make_user("moderator", is_staff=True)
    key, _ = create(personas.member)
    api_key_revoke(actor=staff, key=key)
    assert AuditEvent.objects.get(action="api_key.revoke").actor == staff


@pytest.mark.parametrize("who", ["owner", "reader", "outsider"])
def test_others_cannot_revoke_a_users_key(personas, who):
    key, _ = create(personas.member)
    with pytest.raises(PermissionDenied):
        api_key_revoke(actor=getattr(personas, who), key=key)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


# --- scopes ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("scopes", "read", "write", "admin"), [
    (["read"], True, False, False),
    (["write"], True, True, False),
    (["admin"], True, True, True),
    (["read", "write"], True, True, False),
])
def test_scopes_are_ordered_read_write_admin(scopes, read, write, admin):
    key = ApiKey(scopes=scopes)
    assert (key.has_scope("read"), key.has_scope("write"), key.has_scope("admin")) == (read, write, admin)


@pytest.mark.parametrize("who", ["owner"])
def test_org_admin_may_create_admin_scope_keys(personas, who):
    key, _ = create(getattr(personas, who), ["admin"])
    assert key.scopes == ["admin"]


def test_staff_may_create_admin_scope_keys(personas):
    staff = make_user("moderator", is_staff=True)
    assert create(staff, ["admin"])[0].has_scope("admin")


@pytest.mark.parametrize("who", ["member", "reader", "outsider"])
def test_non_admins_cannot_create_admin_scope_keys(personas, who):
    with pytest.raises(PermissionDenied):
        create(getattr(personas, who), ["read", "admin"])
    assert not ApiKey.objects.exists()


def test_read_key_cannot_write_even_for_a_writer(personas, make_repo):
    repo = make_repo()
    key, _ = create(personas.member, ["read"])
    assert not permissions.can_write_repo(personas.member, repo, key)
    with pytest.raises(PermissionDenied):
        commit_create(actor=personas.member, repo=repo, title="x", operations=[AddInline("a", b"a")],
                      api_key=key)


def test_write_key_cannot_exceed_its_users_rights(personas, make_repo):
    repo = make_repo()
    key, _ = create(personas.reader, ["write"])
    assert not permissions.can_write_repo(personas.reader, repo, key)


def test_write_key_cannot_administer(personas, make_repo):
    repo = make_repo()
    key, _ = create(personas.owner, ["admin"])
    assert permissions.can_admin_repo(personas.owner, repo, key)
    read_key, _ = create(personas.owner, ["read"])
    assert not permissions.can_admin_repo(personas.owner, repo, read_key)


# --- organisation restriction -----------------------------------------------------------------

def test_org_restricted_key_writes_only_inside_its_org(personas, make_repo):
    other = Organization.objects.create(slug="other", name="Other")
    Membership.objects.create(user=personas.member, organization=other, role=Membership.Role.WRITE)
    acme_repo = make_repo()
    other_repo = repo_create(actor=personas.member, namespace="other", name="m")
    own_repo = repo_create(actor=personas.member, namespace="mina", name="m")
    key, _ = create(personas.member, ["write"], organization=personas.org)
    assert permissions.can_write_repo(personas.member, acme_repo, key)
    assert not permissions.can_write_repo(personas.member, other_repo, key)
    assert not permissions.can_write_repo(personas.member, own_repo, key)
    commit_create(actor=personas.member, repo=acme_repo, title="x", operations=[AddInline("a", b"a")],
                  api_key=key)
    with pytest.raises(PermissionDenied):
        commit_create(actor=personas.member, repo=other_repo, title="x", operations=[AddInline("a", b"a")],
                      api_key=key)


def test_org_restricted_key_still_reads_public_repos_elsewhere(personas):
    other = Organization.objects.create(slug="other", name="Other")
    Membership.objects.create(user=personas.owner, organization=other, role=Membership.Role.ADMIN)
    repo = repo_create(actor=personas.owner, namespace="other", name="m")
    create(personas.member, ["read"], organization=personas.org)
    assert permissions.can_read_repo(personas.member, repo)


@pytest.mark.parametrize("who", ["outsider"])
def test_org_restriction_needs_membership(personas, who):
    with pytest.raises(PermissionDenied):
        create(getattr(personas, who), ["write"], organization=personas.org)


@pytest.mark.parametrize("who", ["owner", "member", "reader"])
def test_members_may_restrict_keys_to_their_org(personas, who):
    key, _ = create(getattr(personas, who), ["read"], organization=personas.org)
    assert key.organization == personas.org


# --- issue_api_key command ----------------------------------------------------------------------

def test_issue_api_key_prints_secret_as_last_line_and_it_authenticates(personas):
    out = io.StringIO()
    call_command("issue_api_key", "mina", "--scopes", "read,write", "--name", "ci", "--org", "acme",
                 stdout=out)
    lines = out.getvalue().strip().splitlines()
    secret = lines[-1].strip()
    assert secret.startswith(KEY_PREFIX)
    assert all(secret not in line for line in lines[:-1])
    key = api_key_authenticate(secret=secret)
    assert key is not None
    assert key.user == personas.member
    assert key.scopes == ["read", "write"]
    assert key.name == "ci"
    assert key.organization == personas.org


def test_issue_api_key_defaults_to_read_scope(personas):
    out = io.StringIO()
    call_command("issue_api_key", "rae", stdout=out)
    key = api_key_authenticate(secret=out.getvalue().strip().splitlines()[-1])
    assert key.scopes == ["read"]
    assert key.expires_at is None


@pytest.mark.parametrize("args", [["ghost"], ["mina", "--org", "nowhere"], ["mina", "--scopes", "admin"],
                                  ["mina", "--scopes", "superpowers"], ["mina", "--expires-days", "0"]])
def test_issue_api_key_errors_are_command_errors(personas, args):
    with pytest.raises(CommandError):
        call_command("issue_api_key", *args, stdout=io.StringIO())
    assert not ApiKey.objects.exists()
