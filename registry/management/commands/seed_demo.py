"""Demo data for the embedded mode: an organisation, three users, a public and a gated model.

The models are real (tiny, random-weight) transformers checkpoints with a tokenizer: see registry/demo_model.py.

Idempotent: running it again changes nothing and prints no passwords.
"""

from __future__ import annotations

import io
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry import demo_model
from registry.models import License, Membership, ModelRepo, Organization
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, commit_create
from registry.services.repos import repo_create

LICENSE_TEXT = """# Consortium Open Model License v1

1. You may use, copy, modify and redistribute the model and its outputs.
2. You must keep this license with every copy and say what you changed.
3. You must not use the model to break the law or to harm people.
4. The model is provided "as is", without warranty of any kind.
"""


def card(title: str, summary: str, gated: bool) -> str:
    return f"""---
license: other
license_name: consortium-open-model-license
language:
- ko
- en
pipeline_tag: text-generation
library_name: transformers
tags:
- demo
- {"gated" if gated else "open"}
---
# {title}

{summary}

A one-layer Llama with random weights (about 11,000 parameters) and a byte-level tokenizer, for trying the
hub: it loads with transformers like any model, and what it generates is noise.

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("consortium/{title}")
model = AutoModelForCausalLM.from_pretrained("consortium/{title}")
```

or fetch one file:

```python
from huggingface_hub import hf_hub_download
hf_hub_download("consortium/{title}", "model.safetensors")
```
"""


class Command(BaseCommand):
    help = "Create demo users, an organisation and two small models (DEBUG/embedded mode only)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--force", action="store_true", help="allow outside DEBUG")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if not settings.DEBUG and not options["force"]:
            raise CommandError("demo data is for DEBUG/embedded mode; pass --force to seed anyway")
        users = self._users()
        admin = users["admin"]
        org, _ = Organization.objects.get_or_create(
            slug="consortium", defaults={"name": "National Foundation Model Consortium", "is_consortium_member": True}
        )
        Membership.objects.get_or_create(user=admin, organization=org, defaults={"role": Membership.Role.ADMIN})
        Membership.objects.get_or_create(user=users["member"], organization=org,
                                         defaults={"role": Membership.Role.WRITE})
        license_row, _ = License.objects.get_or_create(
            slug="consortium-open-model-license",
            defaults={"name": "Consortium Open Model License", "text": LICENSE_TEXT},
        )
        self._model(admin, "hanbit-tiny", "A tiny bilingual (Korean/English) demo model, open to everyone.",
                    gated=False, license_row=license_row, seed=1)
        self._model(admin, "hanbit-tiny-gated", "The same tiny model behind a license you accept first.",
                    gated=True, license_row=license_row, seed=2)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _users(self) -> dict:
        User = get_user_model()  # noqa: N806
        result = {}
        for username, superuser in (("admin", True), ("member", False), ("developer", False)):
            user = User.objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(username=username, email=f"{username}@example.com",
                                                password=password, is_staff=superuser, is_superuser=superuser)
                self._verify_email(user)
                self.stdout.write(f"  user {username!r} password: {password}")
            result[username] = user
        return result

    def _verify_email(self, user) -> None:  # noqa: ANN001
        from allauth.account.models import EmailAddress

        EmailAddress.objects.get_or_create(user=user, email=user.email,
                                           defaults={"verified": True, "primary": True})

    def _model(self, actor, name: str, summary: str, *, gated: bool, license_row: License, seed: int) -> None:  # noqa: ANN001
        if ModelRepo.objects.filter(namespace="consortium", name=name).exists():
            return
        with transaction.atomic():
            repo = repo_create(actor=actor, namespace="consortium", name=name,
                               gating=ModelRepo.Gating.AUTO if gated else ModelRepo.Gating.NONE,
                               license=license_row)
            weights = blob_ingest_stream(stream=io.BytesIO(demo_model.safetensors_bytes(seed)), repo=repo,
                                         actor=actor)
            commit_create(
                actor=actor, repo=repo, title="Add demo weights, tokenizer and model card",
                operations=[
                    AddInline(path="README.md", content=card(name, summary, gated).encode()),
                    AddInline(path="config.json", content=demo_model.json_bytes(demo_model.config())),
                    AddInline(path="tokenizer.json", content=demo_model.json_bytes(demo_model.tokenizer_json())),
                    AddInline(path="tokenizer_config.json",
                              content=demo_model.json_bytes(demo_model.tokenizer_config())),
                    AddBlob(path="model.safetensors", sha256=weights.sha256, size=weights.size),
                ],
            )
        self.stdout.write(f"  model consortium/{name}")
