"""Git smart-HTTP routes, with and without `.git` (`git clone https://hub/org/model` asks for
/org/model/info/refs): the ref advertisement and the two services, upload-pack (clone, fetch) and receive-pack
(push). The LFS batch endpoint git-lfs uses lives with the HF routes (api.hf.urls, `…/info/lfs/objects/batch`)."""

from django.urls import re_path

from api.git import views
from registry.names import url_group

NS = url_group("namespace")
NAME = url_group("name")
REPO = rf"^{NS}/{NAME}(?:\.git)?"

urlpatterns = [
    re_path(rf"{REPO}/info/refs$", views.info_refs, name="git-info-refs"),
    re_path(rf"{REPO}/git-upload-pack$", views.upload_pack, name="git-upload-pack"),
    re_path(rf"{REPO}/git-receive-pack$", views.receive_pack, name="git-receive-pack"),
]
