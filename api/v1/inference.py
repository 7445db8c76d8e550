"""Quick inference checks of a revision (newest first), and asking for a new one."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import client_ip
from api.v1.common import rerun_target
from registry.models import InferenceCheck, InferenceStatus
from registry.selectors.inference import inference_checks_for_revision
from registry.services.inference import inference_check_rerun


class MetricsSerializer(serializers.Serializer):
    load_seconds = serializers.FloatField(required=False)
    load_gb_per_s = serializers.FloatField(required=False)
    ttft_seconds = serializers.FloatField(required=False, help_text="Time to first token (mean of prompts)")
    tokens_per_second = serializers.FloatField(required=False)
    peak_memory_bytes = serializers.IntegerField(required=False)
    perplexity = serializers.FloatField(required=False, help_text="On a short fixed Korean/English text")
    logits_finite = serializers.BooleanField(required=False)
    tokenizer_roundtrip = serializers.BooleanField(required=False)
    parameters = serializers.IntegerField(required=False, help_text="Counted from the safetensors headers")
    estimated_memory_bytes = serializers.IntegerField(
        required=False, help_text="Weights in the loading dtype plus a margin, compared with the device's memory")


class InferenceCheckSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=InferenceStatus.choices)
    reason = serializers.CharField(allow_blank=True, help_text="Why it failed or was skipped")
    metrics = MetricsSerializer()
    samples = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                    help_text="Prompt → the greedy continuation (8 tokens)")
    device = serializers.CharField(allow_blank=True)
    library_versions = serializers.DictField(child=serializers.CharField())
    worker_host = serializers.CharField(allow_blank=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class InferenceChecksSerializer(serializers.Serializer):
    revision = serializers.CharField(help_text="The revision asked for")
    commit = serializers.CharField(help_text="The commit it resolved to")
    checks = InferenceCheckSerializer(many=True, help_text="Newest first")


_error = inline_serializer("InferenceCheckError",
                           {"error": serializers.CharField(), "code": serializers.CharField()})
_revision = OpenApiParameter("revision", str, description="Branch, tag or commit id (default: main)")


def _check_body(check: InferenceCheck) -> dict:
    return {field: getattr(check, field) for field in InferenceCheckSerializer().fields}


class InferenceChecksView(APIView):
    """Inference checks of a revision (GET, same visibility as the model) and re-running one (POST, 202).

    POST needs write access: a session user who may write to the model, or a bearer key with the write scope.
    """

    permission_classes = [AllowAny]  # the selector and the service decide: 404 hidden, 401, 403

    @extend_schema(
        operation_id="model_inference_checks",
        parameters=[_revision],
        responses={
            200: InferenceChecksSerializer,
            404: OpenApiResponse(_error, description="No such model or revision, or private to the caller"),
        },
        tags=["inference"],
    )
    def get(self, request: Request, namespace: str, name: str) -> Response:
        revision = request.query_params.get("revision") or "main"
        result = inference_checks_for_revision(viewer=request.user, namespace=namespace, name=name,
                                               revision=revision)
        body = {"revision": revision, "commit": result.commit.oid,
                "checks": [_check_body(c) for c in result.checks]}
        return Response(InferenceChecksSerializer(body).data)

    @extend_schema(
        operation_id="model_inference_checks_rerun",
        parameters=[_revision],
        request=None,
        responses={
            202: inline_serializer("InferenceCheckAccepted", {
                "revision": serializers.CharField(), "commit": serializers.CharField(),
                "id": serializers.IntegerField(),
                "status": serializers.ChoiceField(choices=InferenceStatus.choices),
            }),
            401: OpenApiResponse(_error, description="Anonymous caller"),
            403: OpenApiResponse(_error, description="No write access, or a key without the write scope"),
            404: OpenApiResponse(_error, description="No such model or revision, or private to the caller"),
        },
        tags=["inference"],
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        revision, repo, commit = rerun_target(request, namespace, name)
        check = inference_check_rerun(actor=request.user, repo=repo, commit=commit, api_key=request.auth,
                                      ip=client_ip(request))
        return Response({"revision": revision, "commit": commit.oid, "id": check.pk, "status": check.status},
                        status=status.HTTP_202_ACCEPTED)
