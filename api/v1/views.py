from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from api.v1.pagination import KeysetPagination
from api.v1.serializers import ModelRepoSerializer
from registry.models import ModelRepo
from registry.selectors.catalogue import RepoQuery, repo_page
from registry.selectors.repos import repo_get

SORTS = {"downloads": "downloads", "lastModified": "updated", "createdAt": "created", "name": "name",
         "relevance": "relevance"}


@extend_schema(parameters=[
    OpenApiParameter("search", str, description="Words of the repo id, description, tags or task"),
    OpenApiParameter("author", str, description="Only this organisation's or user's models (any case)"),
    OpenApiParameter("sort", str, enum=list(SORTS),
                     description="Order (default downloads); relevance needs `search`"),
])
class ModelListView(generics.ListAPIView):
    """Models visible to the caller, one page at a time (follow `next`)."""

    serializer_class = ModelRepoSerializer
    permission_classes = [AllowAny]
    pagination_class = KeysetPagination
    queryset = ModelRepo.objects.none()  # the schema generator's; lists come from the catalogue selector

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        params = request.query_params
        query = RepoQuery(text=params.get("search", ""), namespace=params.get("author", "").strip(),
                          sort=SORTS.get(params.get("sort", ""), "downloads"))
        paginator: KeysetPagination = self.paginator
        page = repo_page(viewer=request.user, query=query, cursor=paginator.cursor(request),
                         size=paginator.page_size_for(request))
        return paginator.response(request, page, self.get_serializer(page.rows, many=True).data)


class ModelDetailView(generics.RetrieveAPIView):
    """One model; private models are 404 for outsiders."""

    serializer_class = ModelRepoSerializer
    permission_classes = [AllowAny]

    def get_object(self):  # noqa: ANN201
        return repo_get(viewer=self.request.user, namespace=self.kwargs["namespace"], name=self.kwargs["name"])
