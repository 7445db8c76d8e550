from __future__ import annotations

from rest_framework import serializers

from registry.models import ModelRepo


class ModelRepoSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="repo_id", read_only=True)
    gated = serializers.SerializerMethodField()
    license = serializers.SerializerMethodField()

    class Meta:
        model = ModelRepo
        fields = ["id", "namespace", "name", "private", "gated", "license", "description", "tags",
                  "pipeline_tag", "languages", "parameter_count", "downloads", "created_at", "updated_at"]

    def get_gated(self, repo: ModelRepo) -> str | bool:
        return repo.gating if repo.is_gated else False

    def get_license(self, repo: ModelRepo) -> dict | None:
        if repo.license is None:
            return None
        return {"slug": repo.license.slug, "name": repo.license.name, "version": repo.license.version}
