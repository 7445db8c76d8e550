"""Forms for the browser pages. They check shape only; the services decide everything else."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from registry.lineage import parse_base_model_filter
from registry.models import ApiKey, Organization
from registry.selectors.catalogue import RepoQuery

SORT_CHOICES = [
    ("relevance", _("Best match")),
    ("downloads", _("Most downloads")),
    ("likes", _("Most liked")),
    ("updated", _("Recently updated")),
    ("name", _("Name")),
]
GATED_CHOICES = [("", _("Any access")), ("open", _("Open")), ("gated", _("Gated"))]
QUESTION_PREFIX = "q_"
MAX_OTHER_FILTERS = 10
MAX_FILTER_LENGTH = 300


class ModelSearchForm(forms.Form):
    """GET parameters of /models. Unknown values fall back to no filter rather than an error."""

    q = forms.CharField(required=False, max_length=200, label=_("Search"))
    organization = forms.CharField(required=False, max_length=96, label=_("Organisation"))
    pipeline_tag = forms.CharField(required=False, max_length=64, label=_("Task"))
    license = forms.CharField(required=False, max_length=64, label=_("License"))
    language = forms.CharField(required=False, max_length=32, label=_("Language"))
    tag = forms.CharField(required=False, max_length=100, label=_("Tag"))
    gated = forms.ChoiceField(required=False, choices=GATED_CHOICES, label=_("Access"))
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, label=_("Sort"))

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        # `?search=` is what Hugging Face's model list links use (people paste them): the same as `?q=`.
        if data is not None and not (data.get("q") or "").strip() and (data.get("search") or "").strip():
            data = data.copy()
            data["q"] = data["search"]
        super().__init__(data, *args, **kwargs)

    def filters(self) -> dict[str, str]:
        """The values as the page shows them again; a search sorts by best match unless told otherwise."""
        data = self.cleaned_data if self.is_valid() else {}
        values = {name: (data.get(name) or "").strip() for name in self.fields}
        if not values["sort"] or (values["sort"] == "relevance" and not values["q"]):
            values["sort"] = "relevance" if values["q"] else "downloads"
        return values

    def other_filters(self) -> list[str]:
        """HF's `other=` (and `filter=`) values, repeated: tags in HF's filter syntax, as list_models takes them —
        `base_model:finetune:org/name` (the fine-tunes of a model), `dataset:x`, `license:x`, a tag. A malformed
        base-model filter is dropped (like every unknown value here)."""
        getlist = getattr(self.data, "getlist", None)
        if getlist is None:
            return []
        kept: list[str] = []
        for value in [*getlist("other"), *getlist("filter")]:
            value = value.strip()[:MAX_FILTER_LENGTH]
            try:
                parse_base_model_filter(value)
            except ValueError:
                continue
            if value and value not in kept and len(kept) < MAX_OTHER_FILTERS:
                kept.append(value)
        return kept

    def query(self) -> RepoQuery:
        values = self.filters()
        return RepoQuery(text=values["q"], fuzzy=True, namespace=values["organization"],
                         task=values["pipeline_tag"], license=values["license"], language=values["language"],
                         tag=values["tag"], gated={"gated": True, "open": False}.get(values["gated"]),
                         filters=tuple(self.other_filters()), sort=values["sort"])


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"),
                           help_text=_("What the key is for, e.g. “training cluster”."))
    scopes = forms.MultipleChoiceField(
        choices=[("read", _("read — download models")), ("write", _("write — push commits")),
                 ("admin", _("admin — manage repositories"))],
        widget=forms.CheckboxSelectMultiple, initial=["read"], label=_("Scopes"),
    )
    expires_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, initial=90, label=_("Expires after (days)"),
        help_text=_("Leave empty for a key that never expires."),
    )
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(), required=False, empty_label=_("Any organisation"),
        label=_("Restrict writes to"), to_field_name="slug",
    )

    def __init__(self, *args: Any, organizations: list[Organization] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        slugs = [org.slug for org in organizations or []]
        self.fields["organization"].queryset = Organization.objects.filter(slug__in=slugs).order_by("slug")

    def clean_scopes(self) -> list[str]:
        scopes = self.cleaned_data["scopes"]
        if any(s not in ApiKey.Scope.values for s in scopes):
            raise forms.ValidationError(_("Unknown scope."))
        return scopes


class LicenseAcceptForm(forms.Form):
    """The repo's extra questions (ModelRepo.gating_fields) plus an explicit consent box."""

    consent = forms.BooleanField(
        required=True,
        label=_("I have read the license above and agree to its terms."),
        error_messages={"required": _("You must agree to the license to get access.")},
    )

    def __init__(self, *args: Any, questions: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.questions = [q for q in questions or [] if isinstance(q, dict) and q.get("name")]
        consent = self.fields.pop("consent")
        for question in self.questions:
            self.fields[QUESTION_PREFIX + str(question["name"])] = self._field_for(question)
        self.fields["consent"] = consent

    @staticmethod
    def _field_for(question: dict[str, Any]) -> forms.Field:
        label = str(question.get("label") or question["name"])
        required = bool(question.get("required"))
        kind = question.get("type", "text")
        if kind == "checkbox":
            return forms.BooleanField(label=label, required=required)
        if kind == "select":
            options = [str(o) for o in question.get("options") or []]
            if options:
                return forms.ChoiceField(label=label, required=required,
                                         choices=[("", "—"), *[(o, o) for o in options]])
        return forms.CharField(label=label, required=required, max_length=1000)

    def answers(self) -> dict[str, Any]:
        return {
            str(q["name"]): self.cleaned_data.get(QUESTION_PREFIX + str(q["name"]))
            for q in self.questions
        }


class AccessDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    # Shown to the rejected requester; the service checks its length and that it only comes with a rejection.
    reason = forms.CharField(required=False, strip=True)


# --- organisation members ---------------------------------------------------------------------------------------

ROLE_CHOICES = [("read", _("Read — download private models")), ("write", _("Write — push commits")),
                ("admin", _("Admin — manage members and settings"))]


class MemberAddForm(forms.Form):
    who = forms.CharField(max_length=254, label=_("Username or email"),
                          help_text=_("An email address without an account gets an invitation to sign up."))
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="read", label=_("Role"))


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, label=_("Role"))


# --- repo settings, creation and editing ------------------------------------------------------------------------

GATING_CHOICES = [("none", _("Open: anyone can download")),
                  ("auto", _("Gated, automatic approval")),
                  ("manual", _("Gated, manual approval by the organisation's admins"))]
GATING_FIELD_TYPES = {"text", "country", "checkbox", "select"}


def gating_fields_to_text(fields: list[dict[str, Any]] | None) -> str:
    lines = []
    for item in fields or []:
        kind = item.get("type", "text")
        if kind == "select" and item.get("options"):
            kind = "select:" + ",".join(str(o) for o in item["options"])
        line = f"{item.get('name', '')}|{item.get('label', '')}|{kind}"
        if item.get("required"):
            line += "|required"
        lines.append(line)
    return "\n".join(lines)


def gating_fields_from_text(text: str) -> list[dict[str, Any]]:
    """One question per line: `name|label|type|required` (type: text, country, checkbox, select:a,b,c)."""
    fields: list[dict[str, Any]] = []
    names: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2 or len(parts) > 4 or not parts[0] or not parts[1]:
            raise forms.ValidationError(_("Line %(n)s: write name|label|type|required.") % {"n": number})
        name, label = parts[0], parts[1]
        if not name.replace("_", "").replace("-", "").isalnum() or len(name) > 64:
            raise forms.ValidationError(
                _("Line %(n)s: the name may only hold letters, digits, '-' and '_'.") % {"n": number})
        if name in names:
            raise forms.ValidationError(_("Line %(n)s: the name %(name)s is used twice.") % {"n": number, "name": name})
        names.add(name)
        kind = parts[2] if len(parts) > 2 and parts[2] else "text"
        item: dict[str, Any] = {"name": name, "label": label[:200]}
        if kind.startswith("select:"):
            options = [o.strip() for o in kind[len("select:"):].split(",") if o.strip()]
            if not options:
                raise forms.ValidationError(_("Line %(n)s: a select needs options, e.g. select:a,b.") % {"n": number})
            kind = "select"
            item["options"] = options
        if kind not in GATING_FIELD_TYPES:
            raise forms.ValidationError(
                _("Line %(n)s: the type must be text, country, checkbox or select:…") % {"n": number})
        item["type"] = kind
        if len(parts) > 3:
            if parts[3] not in {"required", "optional", ""}:
                raise forms.ValidationError(_("Line %(n)s: the last part must be required or optional.")
                                            % {"n": number})
            item["required"] = parts[3] == "required"
        else:
            item["required"] = False
        fields.append(item)
    return fields


class RepoSettingsForm(forms.Form):
    private = forms.BooleanField(required=False, label=_("Private: only the owner's members can see it"))
    gating = forms.ChoiceField(choices=GATING_CHOICES, label=_("Access"), widget=forms.RadioSelect)
    license = forms.ModelChoiceField(queryset=None, required=False, empty_label=_("No license"),
                                     label=_("License"), to_field_name="slug")
    gating_fields = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        label=_("Extra questions on the license form"),
        help_text=_("One per line: name|label|type|required. Types: text, country, checkbox, select:a,b,c. "
                    "Example: company|Company|text|required"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from registry.models import License

        super().__init__(*args, **kwargs)
        self.fields["license"].queryset = License.objects.order_by("name")

    def clean_gating_fields(self) -> list[dict[str, Any]]:
        return gating_fields_from_text(self.cleaned_data.get("gating_fields") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("gating") in {"auto", "manual"} and not data.get("license"):
            self.add_error("license", _("A gated model needs a license to accept."))
        return data


class RepoDeleteForm(forms.Form):
    confirm = forms.CharField(max_length=200, label=_("Type the model's full name to confirm"))

    def __init__(self, *args: Any, repo_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.repo_id = repo_id

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip()
        if value != self.repo_id:
            raise forms.ValidationError(_("Type %(id)s exactly to delete this model.") % {"id": self.repo_id})
        return value


class RepoCreateForm(forms.Form):
    namespace = forms.ChoiceField(label=_("Owner"))
    name = forms.CharField(max_length=96, label=_("Model name"),
                           help_text=_("Letters, digits, '-', '_' and '.'."))
    private = forms.BooleanField(required=False, label=_("Private"))
    license = forms.ModelChoiceField(queryset=None, required=False, empty_label=_("No license"),
                                     label=_("License"), to_field_name="slug")

    def __init__(self, *args: Any, namespaces: list[str], **kwargs: Any) -> None:
        from registry.models import License

        super().__init__(*args, **kwargs)
        self.fields["namespace"].choices = [(ns, ns) for ns in namespaces]
        self.fields["license"].queryset = License.objects.order_by("name")


class CardEditForm(forms.Form):
    content = forms.CharField(required=False, strip=False, label=_("Model card (Markdown)"),
                              widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false"}))
    summary = forms.CharField(max_length=200, required=False, label=_("Commit message"))
    description = forms.CharField(required=False, label=_("Extended description"),
                                  widget=forms.Textarea(attrs={"rows": 3}))
    parent = forms.RegexField(regex=r"^([0-9a-f]{40})?$", required=False, widget=forms.HiddenInput)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    files = MultipleFileField(label=_("Files"))
    folder = forms.CharField(max_length=500, required=False, label=_("Into folder"),
                             help_text=_("Optional, e.g. tokenizer. Leave empty for the top level."))
    summary = forms.CharField(max_length=200, required=False, label=_("Commit message"))
    description = forms.CharField(required=False, label=_("Extended description"),
                                  widget=forms.Textarea(attrs={"rows": 3}))


class WebhookForm(forms.Form):
    """A webhook's settings. Watched items are one per line, `type:name` (e.g. `org:acme`, `model:acme/tiny`)."""

    url = forms.CharField(max_length=2000, label=_("Payload URL"),
                          help_text=_("The hub POSTs a JSON payload here (http:// or https://)."))
    watched = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label=_("Watched"),
                              help_text=_("One per line: model:namespace/name, org:name or user:name."))
    domains = forms.MultipleChoiceField(
        choices=[("repo", _("Repository changes (commits, refs, settings, releases)")),
                 ("discussion", _("Discussions and pull requests"))],
        widget=forms.CheckboxSelectMultiple, initial=["repo", "discussion"], label=_("Events"))
    secret = forms.CharField(max_length=200, required=False, label=_("Secret"),
                             help_text=_("Sent as the X-Webhook-Secret header so the receiver can check the sender."))

    def clean_watched(self) -> list[dict[str, str]]:
        items = []
        for line in self.cleaned_data["watched"].splitlines():
            line = line.strip()
            if not line:
                continue
            kind, sep, name = line.partition(":")
            if not sep or not name.strip():
                raise forms.ValidationError(_("Write each watched item as type:name, e.g. org:acme."))
            items.append({"type": kind.strip(), "name": name.strip()})
        if not items:
            raise forms.ValidationError(_("Watch at least one model, organisation or user."))
        return items

    @staticmethod
    def initial_for(hook: Any) -> dict[str, Any]:
        return {"url": hook.url, "domains": hook.domains, "secret": hook.secret,
                "watched": "\n".join(f"{w['type']}:{w['name']}" for w in hook.watched)}
