from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.permissions import AllowAny

from api.v1.serializers import ModelRepoSerializer
from registry.selectors.repos import repo_get, repo_list


@extend_schema(parameters=[OpenApiParameter("search", str), OpenApiParameter("author", str),
                           OpenApiParameter("sort", str, enum=["downloads", "lastModified", "createdAt", "name"])])
class ModelListView(generics.ListAPIView):
    """Models visible to the caller."""

    serializer_class = ModelRepoSerializer
    permission_classes = [AllowAny]

    def get_queryset(self):  # noqa: ANN201
        params = self.request.query_params
        return repo_list(viewer=self.request.user, search=params.get("search", ""),
                         author=params.get("author", ""), sort=params.get("sort", "downloads"))


class ModelDetailView(generics.RetrieveAPIView):
    """One model; private models are 404 for outsiders."""

    serializer_class = ModelRepoSerializer
    permission_classes = [AllowAny]

    def get_object(self):  # noqa: ANN201
        return repo_get(viewer=self.request.user, namespace=self.kwargs["namespace"], name=self.kwargs["name"])
