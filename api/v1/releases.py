"""Releases over the API: request one, read it with its checklist, sign it off, fetch the signed manifest."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import client_ip
from registry.exceptions import NotAuthenticated, PermissionDenied, ReleaseNotFound
from registry.models import Release
from registry.selectors.releases import release_visible_get, releases_for_repo
from registry.selectors.repos import repo_get
from registry.services import releases as release_services


class ChecklistItemSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    ok = serializers.BooleanField()
    detail = serializers.CharField(allow_blank=True)


class DecisionSerializer(serializers.Serializer):
    user = serializers.CharField()
    organization = serializers.CharField(allow_blank=True)
    decision = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    at = serializers.DateTimeField()


class ReleaseSerializer(serializers.Serializer):
    version = serializers.CharField()
    tag = serializers.CharField()
    title = serializers.CharField()
    notes = serializers.CharField(allow_blank=True, help_text="Markdown")
    state = serializers.ChoiceField(choices=Release.State.choices)
    commit = serializers.CharField()
    license = serializers.CharField(allow_null=True)
    checklist = ChecklistItemSerializer(many=True)
    blocked = serializers.BooleanField(help_text="The checklist has unmet items: it can't be approved yet")
    decisions = DecisionSerializer(many=True)
    requested_by = serializers.CharField(allow_null=True)
    requested_at = serializers.DateTimeField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)
    published_at = serializers.DateTimeField(allow_null=True)
    rejected_reason = serializers.CharField(allow_blank=True)
    inference_waiver_reason = serializers.CharField(allow_blank=True)
    withdrawn_at = serializers.DateTimeField(allow_null=True)
    withdrawn_reason = serializers.CharField(allow_blank=True)
    publish_error = serializers.CharField(allow_blank=True)
    signing_key_id = serializers.CharField(allow_blank=True)
    manifest_url = serializers.CharField(allow_null=True)
    signature_url = serializers.CharField(allow_null=True)


class ReleaseRequestSerializer(serializers.Serializer):
    version = serializers.CharField(help_text="Semantic version, e.g. 1.0.0")
    revision = serializers.CharField(required=False, default="main", help_text="Branch, tag or commit id")
    title = serializers.CharField()
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


_error = inline_serializer("ReleaseError", {"error": serializers.CharField(), "code": serializers.CharField()})
_errors = {
    400: OpenApiResponse(_error, description="Invalid input"),
    401: OpenApiResponse(_error, description="Anonymous caller"),
    403: OpenApiResponse(_error, description="Not allowed (scope, role)"),
    404: OpenApiResponse(_error, description="No such model or release, or private to the caller"),
    409: OpenApiResponse(_error, description="Not possible in the release's state"),
}


def release_body(request: Request, release: Release) -> dict:
    base = request.build_absolute_uri(f"/api/v1/models/{release.repo.repo_id}/releases/{release.version}")
    signed = bool(release.manifest)
    decisions = [
        {"user": d.user.get_username() if d.user else "", "organization": d.organization.slug if d.organization
         else "", "decision": d.decision, "reason": d.reason, "at": d.created_at}
        for d in release.decisions.select_related("user", "organization").order_by("created_at", "id")
    ]
    return {
        "version": release.version, "tag": release.tag_name, "title": release.title, "notes": release.notes,
        "state": release.state, "commit": release.commit.oid,
        "license": release.license.slug if release.license else None,
        "checklist": release.checklist, "blocked": release.state == Release.State.DRAFT,
        "decisions": decisions,
        "requested_by": release.requested_by.get_username() if release.requested_by else None,
        "requested_at": release.requested_at, "approved_at": release.approved_at,
        "published_at": release.published_at, "rejected_reason": release.rejected_reason,
        "inference_waiver_reason": release.inference_waiver_reason,
        "withdrawn_at": release.withdrawn_at, "withdrawn_reason": release.withdrawn_reason,
        "publish_error": release.publish_error, "signing_key_id": release.signing_key_id,
        "manifest_url": f"{base}/manifest" if signed else None,
        "signature_url": f"{base}/manifest.sig" if signed else None,
    }


def _visible_release(request: Request, namespace: str, name: str, version: str) -> Release:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    return release_visible_get(viewer=request.user, repo=repo, version=version)


def _need_scope(request: Request, scope: str) -> None:
    if not request.user.is_authenticated:
        raise NotAuthenticated("sign in or send an API key")
    key = request.auth
    if key is not None and not key.has_scope(scope):
        raise PermissionDenied(f"this API key lacks the {scope} scope")


class ReleaseListView(APIView):
    """Published releases of a model (GET; `?all=1` adds open, rejected and withdrawn ones for insiders), and
    requesting a release (POST, write access): 201 with its checklist; `blocked` when items are unmet."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="model_releases", responses={200: ReleaseSerializer(many=True), **_errors},
                   tags=["releases"])
    def get(self, request: Request, namespace: str, name: str) -> Response:
        repo = repo_get(viewer=request.user, namespace=namespace, name=name)
        everything = request.query_params.get("all") in {"1", "true"}  # honoured for insiders only (the selector)
        releases = releases_for_repo(repo=repo, viewer=request.user, include_unpublished=everything,
                                     include_withdrawn=everything)
        return Response(ReleaseSerializer([release_body(request, r) for r in releases], many=True).data)

    @extend_schema(operation_id="model_release_request", request=ReleaseRequestSerializer,
                   responses={201: ReleaseSerializer, **_errors}, tags=["releases"])
    def post(self, request: Request, namespace: str, name: str) -> Response:
        _need_scope(request, "write")
        repo = repo_get(viewer=request.user, namespace=namespace, name=name)
        data = ReleaseRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        release = release_services.release_request(
            actor=request.user, repo=repo, api_key=request.auth, ip=client_ip(request),
            base_url=request.build_absolute_uri("/"), **data.validated_data)
        return Response(ReleaseSerializer(release_body(request, release)).data, status=status.HTTP_201_CREATED)


class ReleaseDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="model_release", responses={200: ReleaseSerializer, **_errors}, tags=["releases"])
    def get(self, request: Request, namespace: str, name: str, version: str) -> Response:
        release = _visible_release(request, namespace, name, version)
        return Response(ReleaseSerializer(release_body(request, release)).data)


class ReleaseActionView(APIView):
    """approve / reject / withdraw / waive-inference: consortium admins, with an admin-scope key."""

    permission_classes = [AllowAny]
    action: str = ""
    actions = {
        "approve": release_services.release_approve,
        "reject": release_services.release_reject,
        "withdraw": release_services.release_withdraw,
        "waive-inference": release_services.release_waive_inference,
        # The member who requested the release (a write key) or a consortium admin re-runs a stale checklist.
        "recheck": release_services.release_rerun_checklist,
    }
    scopes = {"recheck": "write"}

    def post(self, request: Request, namespace: str, name: str, version: str) -> Response:
        _need_scope(request, self.scopes.get(self.action, "admin"))
        release = _visible_release(request, namespace, name, version)
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        extra = {"base_url": request.build_absolute_uri("/")} if self.action == "approve" else {}
        release = self.actions[self.action](actor=request.user, release=release, reason=data.validated_data["reason"],
                                            ip=client_ip(request), **extra)
        release.refresh_from_db()
        return Response(ReleaseSerializer(release_body(request, release)).data)


def _action_view(action: str) -> type[ReleaseActionView]:
    """One view class per action, so each has its own operation in the OpenAPI schema."""

    class View(ReleaseActionView):
        @extend_schema(operation_id=f"model_release_{action.replace('-', '_')}", request=ReasonSerializer,
                       responses={200: ReleaseSerializer, **_errors}, tags=["releases"])
        def post(self, request: Request, namespace: str, name: str, version: str) -> Response:
            return super().post(request, namespace, name, version)

    View.action = action
    View.__name__ = View.__qualname__ = "Release" + action.title().replace("-", "") + "View"
    return View


ACTION_VIEWS = {action: _action_view(action) for action in ReleaseActionView.actions}


def _signed(request: Request, namespace: str, name: str, version: str) -> Release:
    release = _visible_release(request, namespace, name, version)
    if not release.manifest:
        raise ReleaseNotFound(f"release {release.version} is not published: it has no signed manifest yet")
    return release


class ReleaseManifestView(APIView):
    """The exact signed bytes (canonical JSON)."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="model_release_manifest",
                   responses={(200, "application/json"): OpenApiResponse(
                       OpenApiTypes.OBJECT, description="The signed manifest: canonical JSON, byte for byte as signed"),
                       **_errors},
                   tags=["releases"])
    def get(self, request: Request, namespace: str, name: str, version: str) -> HttpResponse:
        release = _signed(request, namespace, name, version)
        response = HttpResponse(bytes(release.manifest), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{release.repo.name}-{release.version}.manifest.json"'
        return response


class ReleaseSignatureView(APIView):
    """The Ed25519 signature of the manifest, base64."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="model_release_signature", responses={(200, "text/plain"): str, **_errors},
                   tags=["releases"])
    def get(self, request: Request, namespace: str, name: str, version: str) -> HttpResponse:
        release = _signed(request, namespace, name, version)
        response = HttpResponse(release.signature + "\n", content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{release.repo.name}-{release.version}.manifest.sig"'
        response["X-Signing-Key-Id"] = release.signing_key_id
        return response
