"""Hugging Face Hub-compatible routes. Only model repos (HF's default type) are served.

Revisions may contain '/', so routes take the rest of the path and views split it
(see common.split_revision). The rest matches any character, newlines included, so that a hostile revision or path
gets the view's RevisionNotFound/EntryNotFound rather than a route miss.
"""

from django.urls import path, re_path

from api.hf import access, attachments, discussions, files, likes, pulls, repos, upload, webhooks
from registry.names import url_group

NS = url_group("namespace")  # the one name policy (registry.names): what repo_create accepts, and nothing else
NAME = url_group("name")
REST = "(?P<rest>(?s:.+))"
NUM = "(?P<num>[^/]+)"  # the view answers DiscussionNotFound for anything that is not a thread's number
COMMENT = "(?P<comment_id>[^/]+)"

urlpatterns = [
    path("api/whoami-v2", repos.whoami, name="hf-whoami"),
    path("api/repos/create", repos.create_repo, name="hf-repo-create"),
    path("api/repos/delete", repos.delete_repo, name="hf-repo-delete"),
    path("api/repos/move", repos.move_repo, name="hf-repo-move"),
    path("api/settings/webhooks", webhooks.webhooks, name="hf-webhooks"),
    re_path(r"^api/settings/webhooks/(?P<uid>[^/]+)$", webhooks.webhook, name="hf-webhook"),
    re_path(r"^api/settings/webhooks/(?P<uid>[^/]+)/(?P<switch>enable|disable)$", webhooks.webhook_switch,
            name="hf-webhook-switch"),
    path("uploads", attachments.upload, name="hf-attachment-upload"),
    re_path(r"^uploads/(?P<uid>[0-9a-f]{32})(?P<extension>\.[a-z0-9]{2,4})$", attachments.serve,
            name="hf-attachment"),
    path("api/validate-yaml", repos.validate_yaml, name="hf-validate-yaml"),
    path("api/models", repos.list_models, name="hf-model-list"),
    re_path(rf"^api/models/{NS}/{NAME}$", repos.model_info, name="hf-model-info"),
    re_path(rf"^api/models/{NS}/{NAME}/revision/{REST}$", repos.model_info, name="hf-model-info-rev"),
    re_path(rf"^api/models/{NS}/{NAME}/safetensors-metadata/{REST}$", repos.safetensors_metadata,
            name="hf-safetensors-metadata"),
    re_path(rf"^api/models/{NS}/{NAME}/settings$", repos.update_settings, name="hf-settings"),
    re_path(rf"^api/models/{NS}/{NAME}/auth-check(?P<write>/write)?$", repos.auth_check, name="hf-auth-check"),
    re_path(rf"^api/models/{NS}/{NAME}/user-access-request/(?P<status>pending|accepted|rejected)$",
            access.requests_list, name="hf-access-requests"),
    re_path(rf"^api/models/{NS}/{NAME}/user-access-request/handle$", access.handle, name="hf-access-handle"),
    re_path(rf"^api/models/{NS}/{NAME}/user-access-request/grant$", access.grant, name="hf-access-grant"),
    re_path(rf"^api/models/{NS}/{NAME}/discussions$", discussions.discussions, name="hf-discussions"),
    re_path(rf"^api/models/{NS}/{NAME}/discussions/{NUM}$", discussions.discussion_details, name="hf-discussion"),
    re_path(rf"^api/models/{NS}/{NAME}/discussions/{NUM}/comment$", discussions.comment, name="hf-discussion-comment"),
    re_path(rf"^api/models/{NS}/{NAME}/discussions/{NUM}/comment/{COMMENT}/edit$", discussions.comment_edit_view,
            name="hf-discussion-comment-edit"),
    re_path(rf"^api/models/{NS}/{NAME}/discussions/{NUM}/comment/{COMMENT}/hide$", discussions.comment_hide_view,
            name="hf-discussion-comment-hide"),
    re_path(rf"^api/models/{NS}/{NAME}/discussions/{NUM}/title$", discussions.title, name="hf-discussion-title"),
    re_path(rf"^api/models/{NS}/{NAME}/discussions/{NUM}/status$", discussions.status, name="hf-discussion-status"),
    re_path(rf"^api/models/{NS}/{NAME}/like$", likes.unlike, name="hf-unlike"),
    re_path(rf"^api/models/{NS}/{NAME}/likers$", likes.repo_likers, name="hf-likers"),
    re_path(r"^api/users/(?P<username>[^/]{1,150})/likes$", likes.user_likes, name="hf-user-likes"),
    re_path(rf"^api/models/{NS}/{NAME}/refs$", repos.refs, name="hf-refs"),
    re_path(rf"^api/models/{NS}/{NAME}/discussions/{NUM}/merge$", pulls.merge, name="hf-pr-merge"),
    re_path(rf"^api/models/{NS}/{NAME}/commits/{REST}$", repos.commits, name="hf-commits"),
    re_path(rf"^api/models/{NS}/{NAME}/branch/{REST}$", repos.branch, name="hf-branch"),
    re_path(rf"^api/models/{NS}/{NAME}/tag/{REST}$", repos.tag, name="hf-tag"),
    re_path(rf"^api/models/{NS}/{NAME}/tree/{REST}$", files.tree, name="hf-tree"),
    re_path(rf"^api/models/{NS}/{NAME}/paths-info/{REST}$", files.paths_info, name="hf-paths-info"),
    re_path(rf"^api/models/{NS}/{NAME}/preupload/{REST}$", upload.preupload, name="hf-preupload"),
    re_path(rf"^api/models/{NS}/{NAME}/commit/{REST}$", upload.commit, name="hf-commit"),
    re_path(rf"^api/models/{NS}/{NAME}/xet-write-token/{REST}$", upload.xet_write_token, name="hf-xet-write"),
    re_path(rf"^api/models/{NS}/{NAME}/xet-read-token/{REST}$", upload.xet_read_token, name="hf-xet-read"),
    re_path(rf"^{NS}/{NAME}\.git/info/lfs/objects/batch$", upload.lfs_batch, name="hf-lfs-batch"),
    path("api/lfs/complete/<str:token>", upload.lfs_complete, name="hf-lfs-complete"),
    re_path(rf"^api/lfs/verify/{NS}/{NAME}$", upload.lfs_verify, name="hf-lfs-verify"),
    re_path(rf"^{NS}/{NAME}/resolve/{REST}$", files.resolve, name="hf-resolve"),
]
