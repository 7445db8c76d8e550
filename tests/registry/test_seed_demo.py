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
        assert {".gitattributes", "README.md", "config.json", "model.safetensors", "tokenizer.json",
                "tokenizer_config.json"} <= set(files)
        config = json.loads(bytes(files["config.json"].content))
        assert config["model_type"] == "llama" and config["architectures"] == ["LlamaForCausalLM"]
        assert bytes(files["README.md"].content).startswith(b"---\n")
        # The card is cached on the repo.
        assert "demo" in repo.tags
        assert repo.pipeline_tag == "text-generation"
        assert repo.languages == ["ko", "en"]
        assert repo.description
        # The weights are a verified blob whose bytes are a valid safetensors file that matches the config.
        weights = files["model.safetensors"]
        blob = weights.blob
        assert blob is not None and weights.content is None
        assert blob.state == Blob.State.VERIFIED
        assert blob.size == weights.size
        data = b"".join(get_store().iter_bytes(blob.storage_key))
        assert len(data) == blob.size
        tensors = load(data)
        hidden, vocab = config["hidden_size"], config["vocab_size"]
        assert tensors["model.embed_tokens.weight"].shape == (vocab, hidden)
        assert tensors["lm_head.weight"].shape == (vocab, hidden)
        assert tensors["model.layers.0.mlp.down_proj.weight"].shape == (hidden, config["intermediate_size"])
        assert not any(k.startswith(f"model.layers.{config['num_hidden_layers']}.") for k in tensors)
        assert str(tensors["model.norm.weight"].dtype) == "float32"
        # The tokenizer covers every byte (and so every text) within the model's vocabulary.
        tokenizer = json.loads(bytes(files["tokenizer.json"].content))
        ids = set(tokenizer["model"]["vocab"].values()) | {t["id"] for t in tokenizer["added_tokens"]}
        assert len(tokenizer["model"]["vocab"]) == 256 and ids == set(range(vocab))
        assert can_download(developer, repo) is (gating == ModelRepo.Gating.NONE)
    # Different seeds: the two models don't share their weights blob.
    assert Blob.objects.count() == 2


def test_demo_model_loads_with_transformers_and_round_trips_korean(tmp_path):
    """The model page's snippet works on the demo: a real checkpoint and tokenizer, not a stand-in."""
    pytest.importorskip("transformers", reason="the inference extra is not installed")
    torch = pytest.importorskip("torch", reason="the inference extra is not installed")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from registry import demo_model

    (tmp_path / "config.json").write_bytes(demo_model.json_bytes(demo_model.config()))
    (tmp_path / "tokenizer.json").write_bytes(demo_model.json_bytes(demo_model.tokenizer_json()))
    (tmp_path / "tokenizer_config.json").write_bytes(demo_model.json_bytes(demo_model.tokenizer_config()))
    (tmp_path / "model.safetensors").write_bytes(demo_model.safetensors_bytes(1))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    text = "안녕하세요, consortium hub!"
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    out = model.generate(torch.tensor([ids]), max_new_tokens=4, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)
    assert out.shape == (1, len(ids) + 4)


def test_demo_models_pass_validation_without_warnings(db, debug, blob_store, django_capture_on_commit_callbacks,
                                                     monkeypatch):
    """What a newcomer sees first: green checks on both demo models, not warnings."""
    from registry import tasks
    from registry.models import FileCheck, ValidationRun
    from registry.services.validation import validation_run_execute

    queued: list[int] = []
    monkeypatch.setattr(tasks.validate_commit, "apply_async", lambda args, **kw: queued.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        seed()
    assert len(queued) == 4  # each repo's first commit (.gitattributes), then its files
    for run_id in queued:
        validation_run_execute(run_id=run_id)
        run = ValidationRun.objects.get(pk=run_id)
        problems = [c for c in run.summary.get("checks", []) if c.get("status") != "passed"]
        assert run.status == "passed", (run.repo, run.status, problems)
        assert not problems
        assert set(FileCheck.objects.filter(run=run).values_list("status", flat=True)) == {"passed"}


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
