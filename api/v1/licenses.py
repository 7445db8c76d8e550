"""License acceptance for automation: the JSON twin of the portal's /{repo}/accept page."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import client_ip
from registry.models import LicenseAcceptance
from registry.selectors.repos import repo_get
from registry.services.licenses import license_accept


class LicenseAcceptRequestSerializer(serializers.Serializer):
    answers = serializers.DictField(
        child=serializers.JSONField(), required=False, default=dict,
        help_text="Answers to the repo's extra questions (its gating fields), keyed by question name.",
    )


class LicenseAcceptResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=LicenseAcceptance.Status.choices,
                                     help_text="accepted (auto gating), pending (manual review) or rejected")
    license_version = serializers.IntegerField(help_text="The license version this acceptance is bound to")


_error = inline_serializer(
    "LicenseAcceptError", {"error": serializers.CharField(), "code": serializers.CharField()}
)


class LicenseAcceptView(APIView):
    """Accept a gated model's current license, as the signed-in user or the API key's owner.

    Auto-gated models answer `accepted` at once; manually gated ones `pending` until an
    organisation admin decides. Accepting again keeps an earlier decision.
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="model_license_accept",
        request=LicenseAcceptRequestSerializer,
        responses={
            200: LicenseAcceptResponseSerializer,
            400: OpenApiResponse(_error, description="Not gated, or a required answer is missing"),
            401: OpenApiResponse(description="No valid API key or session"),
            404: OpenApiResponse(_error, description="No such model, or private to the caller"),
        },
        tags=["licenses"],
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        payload = LicenseAcceptRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        repo = repo_get(viewer=request.user, namespace=namespace, name=name)
        acceptance = license_accept(user=request.user, repo=repo, answers=payload.validated_data["answers"],
                                    ip=client_ip(request))
        body = LicenseAcceptResponseSerializer(
            {"status": acceptance.status, "license_version": acceptance.license_version}
        ).data
        return Response(body, status=status.HTTP_200_OK)
