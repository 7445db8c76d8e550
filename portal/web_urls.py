"""Browser pages. Mounted after the HF-compatible routes, whose /api/… and /{repo}/resolve/… win.

Revisions may contain '/', so tree/blob routes take the rest of the path; the views split it at the
longest known branch or tag (links quote the revision as one segment, as huggingface_hub does).
"""

from django.urls import include, path, re_path

from portal.views import (
    account,
    commits,
    community,
    likes,
    models,
    orgs,
    pulls,
    releases,
    repo_manage,
    tokens,
    webhooks,
)
from registry.names import VERSION_PATTERN, url_group

# The one name policy (registry.names): every name repo_create and the sign-up accept routes here, and only those.
NS = url_group("namespace")
NAME = url_group("name")
VERSION = url_group("version", VERSION_PATTERN)
SLUG = url_group("slug")
NUM = "(?P<num>[1-9][0-9]{0,8})"  # a discussion's number

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("models", models.model_list, name="models"),
    path("models/namespaces", models.namespace_suggest, name="models-namespaces"),
    path("settings/tokens", tokens.tokens, name="tokens"),
    path("settings/tokens/<int:pk>/revoke", tokens.token_revoke, name="token-revoke"),
    path("settings/access", account.my_access, name="settings-access"),
    path("settings/organizations", account.my_organizations, name="settings-orgs"),
    path("settings/webhooks", webhooks.webhook_list, name="settings-webhooks"),
    re_path(r"^settings/webhooks/(?P<uid>[0-9a-f]{1,24})$", webhooks.webhook_detail, name="settings-webhook"),
    re_path(r"^settings/webhooks/(?P<uid>[0-9a-f]{1,24})/(?P<action>enable|disable|delete)$",
            webhooks.webhook_action, name="settings-webhook-action"),
    re_path(r"^settings/webhooks/(?P<uid>[0-9a-f]{1,24})/deliveries/(?P<pk>[0-9]{1,18})/replay$",
            webhooks.webhook_replay_view, name="settings-webhook-replay"),
    re_path(rf"^organizations/{SLUG}/settings/webhooks$", webhooks.webhook_list, name="org-webhooks"),
    re_path(rf"^organizations/{SLUG}/settings/webhooks/(?P<uid>[0-9a-f]{{1,24}})$", webhooks.webhook_detail,
            name="org-webhook"),
    re_path(rf"^organizations/{SLUG}/settings/webhooks/(?P<uid>[0-9a-f]{{1,24}})/(?P<action>enable|disable|delete)$",
            webhooks.webhook_action, name="org-webhook-action"),
    re_path(rf"^organizations/{SLUG}/settings/webhooks/(?P<uid>[0-9a-f]{{1,24}})/deliveries/(?P<pk>[0-9]{{1,18}})"
            r"/replay$", webhooks.webhook_replay_view, name="org-webhook-replay"),
    path("new", repo_manage.repo_new, name="repo-new"),
    re_path(rf"^organizations/{SLUG}/members$", orgs.members, name="org-members"),
    re_path(rf"^organizations/{SLUG}/members/(?P<pk>[0-9]+)/role$", orgs.member_role, name="org-member-role"),
    re_path(rf"^organizations/{SLUG}/members/(?P<pk>[0-9]+)/remove$", orgs.member_remove,
            name="org-member-remove"),
    re_path(rf"^organizations/{SLUG}/invitations/(?P<pk>[0-9]+)/cancel$", orgs.invitation_cancel,
            name="org-invitation-cancel"),
    path("releases/pending", releases.releases_pending, name="releases-pending"),
    path("releases/feed.atom", releases.releases_feed, name="releases-feed"),
    re_path(rf"^{SLUG}/access-requests$", orgs.access_requests, name="org-access-requests"),
    re_path(rf"^{NS}/{NAME}/releases$", releases.release_list, name="releases"),
    re_path(rf"^{NS}/{NAME}/releases/new$", releases.release_new, name="release-new"),
    re_path(rf"^{NS}/{NAME}/releases/feed\.atom$", releases.repo_releases_feed, name="repo-releases-feed"),
    re_path(rf"^{NS}/{NAME}/releases/{VERSION}$", releases.release_detail, name="release"),
    re_path(rf"^{NS}/{NAME}/releases/{VERSION}/(?P<action>approve|reject|withdraw|waive-inference|recheck)$",
            releases.release_action, name="release-action"),
    re_path(rf"^{NS}/{NAME}/discussions$", community.discussion_list, name="discussions"),
    re_path(rf"^{NS}/{NAME}/discussions/new$", community.discussion_new, name="discussion-new"),
    re_path(rf"^{NS}/{NAME}/discussions/{NUM}$", community.discussion_detail, name="discussion"),
    re_path(rf"^{NS}/{NAME}/discussions/{NUM}/(?P<action>comment|title|status|subscription)$",
            community.discussion_action, name="discussion-action"),
    re_path(rf"^{NS}/{NAME}/discussions/{NUM}/comment/(?P<eid>[0-9a-f]{{1,24}})/(?P<action>edit|hide)$",
            community.comment_action, name="discussion-comment-action"),
    re_path(rf"^{NS}/{NAME}/discussions/{NUM}/unsubscribe$", community.discussion_unsubscribe,
            name="discussion-unsubscribe"),
    re_path(rf"^{NS}/{NAME}/follow$", releases.model_follow, name="model-follow"),
    re_path(rf"^{NS}/{NAME}/like$", likes.model_like, name="model-like"),
    re_path(rf"^{NS}/{NAME}/discussions/{NUM}/merge$", pulls.pr_merge_view, name="pr-merge"),
    re_path(rf"^{NS}/{NAME}/settings$", repo_manage.repo_settings, name="repo-settings"),
    re_path(rf"^{NS}/{NAME}/settings/delete$", repo_manage.repo_delete_view, name="repo-delete"),
    re_path(rf"^{NS}/{NAME}/settings/downloads$", repo_manage.repo_downloads, name="repo-downloads"),
    re_path(rf"^{NS}/{NAME}/edit/(?P<rest>.+)$", repo_manage.card_edit, name="card-edit"),
    re_path(rf"^{NS}/{NAME}/upload/(?P<rest>.+)$", repo_manage.upload, name="upload"),
    re_path(rf"^{NS}/{NAME}/tree/(?P<rest>.+)$", models.model_tree, name="model-tree"),
    re_path(rf"^{NS}/{NAME}/blob/(?P<rest>.+)$", models.model_blob, name="model-blob"),
    re_path(rf"^{NS}/{NAME}/tensors/(?P<rest>.+)$", models.model_tensors, name="model-tensors"),
    re_path(rf"^{NS}/{NAME}/commits/(?P<rest>.+)$", models.model_commits, name="model-commits"),
    re_path(rf"^{NS}/{NAME}/commit/(?P<oid>[^/]+)$", commits.model_commit, name="model-commit"),
    re_path(rf"^{NS}/{NAME}/compare/(?P<rest>.+)$", commits.model_compare, name="model-compare"),
    re_path(rf"^{NS}/{NAME}/accept$", models.model_accept, name="model-accept"),
    re_path(rf"^{NS}/{NAME}/checks(?:/(?P<rest>.+))?$", models.model_checks, name="model-checks"),
    re_path(rf"^{NS}/{NAME}$", models.model_detail, name="model"),
    re_path(rf"^{SLUG}$", orgs.namespace, name="org"),
]
