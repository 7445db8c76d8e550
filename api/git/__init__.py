"""Git smart HTTP: clone, fetch and push a repo with the stock `git` and `git-lfs` (issue 21).

Routes in api.git.urls; plumbing (who is calling, errors git prints) in api.git.common; clone/fetch (upload-pack) in
api.git.upload_pack; push (receive-pack) in api.git.receive_pack. The objects come from the hub's own tables and
blob store (registry.selectors.git); a push is one more door to registry.services.commits.commit_create.
"""
