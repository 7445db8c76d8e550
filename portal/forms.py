"""Forms for the browser pages. They check shape only; the services decide everything else."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from registry.models import ApiKey, Organization
from registry.selectors.portal import SORTS

SORT_CHOICES = [
    ("downloads", _("Most downloads")),
    ("updated", _("Recently updated")),
    ("name", _("Name")),
]
GATED_CHOICES = [("", _("Any access")), ("open", _("Open")), ("gated", _("Gated"))]
QUESTION_PREFIX = "q_"


class ModelSearchForm(forms.Form):
    """GET parameters of /models. Unknown values fall back to no filter rather than an error."""

    q = forms.CharField(required=False, max_length=200, label=_("Search"))
    organization = forms.CharField(required=False, max_length=96, label=_("Organisation"))
    pipeline_tag = forms.CharField(required=False, max_length=64, label=_("Task"))
    license = forms.CharField(required=False, max_length=64, label=_("License"))
    language = forms.CharField(required=False, max_length=32, label=_("Language"))
    gated = forms.ChoiceField(required=False, choices=GATED_CHOICES, label=_("Access"))
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, label=_("Sort"))

    def filters(self) -> dict[str, str]:
        data = self.cleaned_data if self.is_valid() else {}
        values = {name: (data.get(name) or "") for name in self.fields}
        if values["sort"] not in SORTS:
            values["sort"] = "downloads"
        return values


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
