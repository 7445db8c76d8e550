"""Checkpoint validation results of a revision, and re-running them."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import client_ip
from api.v1.common import rerun_target
from registry.models import ValidationStatus
from registry.selectors.validation import validation_for_revision
from registry.services.validation import validation_run_rerun


class CheckSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The check: integrity, safetensors, pickle, config, tokenizer…")
    status = serializers.ChoiceField(choices=["passed", "warning", "failed"])
    message = serializers.CharField()


class FileCheckSerializer(serializers.Serializer):
    path = serializers.CharField()
    sha256 = serializers.CharField(help_text="sha256 of the file's content")
    size = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ValidationStatus.choices)
    checks = CheckSerializer(many=True)
    summary = serializers.DictField(
        help_text="What the validator learnt: format; for safetensors tensor_count, parameter_count, "
                  "dtypes; for pickles the globals they import. `reused`: identical content's verdict was "
                  "reused.")


class ProgressSerializer(serializers.Serializer):
    bytes_checked = serializers.IntegerField()
    bytes_total = serializers.IntegerField()


class RepoSummarySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["passed", "warning", "failed"], required=False)
    checks = CheckSerializer(many=True, required=False)
    parameter_count = serializers.IntegerField(required=False, help_text="From the safetensors headers")
    config_parameter_estimate = serializers.JSONField(
        required=False, help_text="What config.json implies (one or two counts)")


class ValidationSerializer(serializers.Serializer):
    revision = serializers.CharField(help_text="The revision asked for")
    commit = serializers.CharField(help_text="The commit it resolved to")
    status = serializers.ChoiceField(choices=ValidationStatus.choices,
                                     help_text="Worst of the files' and the repo-level checks")
    progress = ProgressSerializer()
    summary = RepoSummarySerializer(help_text="Repo-level checks on the commit's full tree")
    files = FileCheckSerializer(many=True, help_text="The files this commit added or changed")
    error = serializers.CharField(allow_blank=True, help_text="Why the last attempt stopped, if it did")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


_error = inline_serializer("ValidationError",
                           {"error": serializers.CharField(), "code": serializers.CharField()})
_revision = OpenApiParameter("revision", str, description="Branch, tag or commit id (default: main)")


class ValidationView(APIView):
    """Validation of a revision: each file the commit added or changed, and repo-level checks.

    Private models are 404 to callers who can't see them.
    """

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="model_validation",
        parameters=[_revision],
        responses={
            200: ValidationSerializer,
            404: OpenApiResponse(_error, description="No such model or revision (or private to the "
                                                     "caller), or the revision was never validated "
                                                     "(ValidationNotFound)"),
        },
        tags=["validation"],
    )
    def get(self, request: Request, namespace: str, name: str) -> Response:
        revision = request.query_params.get("revision") or "main"
        result = validation_for_revision(viewer=request.user, namespace=namespace, name=name,
                                         revision=revision)
        run = result.run
        body = {
            "revision": revision,
            "commit": result.commit.oid,
            "status": run.status,
            "progress": {"bytes_checked": run.bytes_checked, "bytes_total": run.bytes_total},
            "summary": run.summary,
            "files": [
                {"path": f.path, "sha256": f.sha256, "size": f.size, "status": f.status, "checks": f.checks,
                 "summary": f.summary}
                for f in result.files
            ],
            "error": run.error,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
        }
        return Response(ValidationSerializer(body).data)


class ValidationRerunView(APIView):
    """Validate a revision again from scratch (cached verdicts of its files are dropped). Answers 202.

    Needs write access: a session user who may write to the model, or a bearer key with the write scope.
    """

    permission_classes = [AllowAny]  # the service decides: 404 hidden, 401 anonymous, 403 read-only

    @extend_schema(
        operation_id="model_validation_rerun",
        parameters=[_revision],
        request=None,
        responses={
            202: inline_serializer("ValidationRerunAccepted", {
                "revision": serializers.CharField(), "commit": serializers.CharField(),
                "status": serializers.ChoiceField(choices=ValidationStatus.choices),
            }),
            401: OpenApiResponse(_error, description="Anonymous caller"),
            403: OpenApiResponse(_error, description="No write access, or a key without the write scope"),
            404: OpenApiResponse(_error, description="No such model or revision, or private to the caller"),
            409: OpenApiResponse(_error, description="The revision is being validated right now"),
        },
        tags=["validation"],
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        revision, repo, commit = rerun_target(request, namespace, name)
        run = validation_run_rerun(actor=request.user, repo=repo, commit=commit, api_key=request.auth,
                                   ip=client_ip(request))
        return Response({"revision": revision, "commit": commit.oid, "status": run.status},
                        status=status.HTTP_202_ACCEPTED)
