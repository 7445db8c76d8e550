"""registry.tree_index: the folders of a tree in one pass, each with the id `directory_oid` gives a folder on its own
(git tree ids: tests/registry/test_git_objects.py checks them against git), and the SQL twin of `parent_of` on both
databases."""

from __future__ import annotations

import hashlib
import random

import pytest

from registry.models import CommitFile
from registry.tree_index import ancestors_of, directory_oid, folders_of, parent_expression, parent_of
from tests.trees_support import seed_files

# Characters that sort around '/' and ' ' (the separator of a folder id's lines), non-ASCII included.
ALPHABET = ["a", "b", " ", "-", ".", "0", "!", "é", "한", "Z", "~"]


def random_tree(rng: random.Random) -> dict[str, tuple[str, int]]:
    paths: set[str] = set()
    for _ in range(rng.randint(0, 60)):
        parts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 4))]
        paths.add("/".join(parts))
    folders = {a for p in paths for a in ancestors_of(p)}
    return {p: (hashlib.sha1(p.encode()).hexdigest(), rng.randint(0, 10**6)) for p in paths - folders}


@pytest.mark.parametrize("seed", range(40))
def test_every_folder_gets_the_id_of_its_definition_with_counts_and_sizes(seed):
    tree = random_tree(random.Random(seed))
    folders = {f.path: f for f in folders_of((p, oid, size) for p, (oid, size) in tree.items())}
    assert set(folders) == {a for p in tree for a in ancestors_of(p)} | {""}
    pairs = [(p, oid) for p, (oid, _size) in tree.items()]
    for path, folder in folders.items():
        below = [p for p in tree if not path or p.startswith(path + "/")]
        assert folder.oid == directory_oid(pairs, path)
        assert (folder.files, folder.size, folder.parent) == (len(below), sum(tree[p][1] for p in below),
                                                               parent_of(path))


@pytest.mark.django_db
def test_the_database_finds_each_files_folder_as_python_does(personas, make_repo):
    paths = ["a.txt", "d/x", "d/é 한/y z", "d/a.b/c-d/e", "d/q"]
    commit = seed_files(personas.owner, make_repo("tiny"), {p: b"x" for p in paths})
    CommitFile.objects.filter(commit=commit).update(parent="")
    CommitFile.objects.filter(commit=commit, path__contains="/").update(parent=parent_expression())
    stored = dict(CommitFile.objects.filter(commit=commit).values_list("path", "parent"))
    assert stored == {p: parent_of(p) for p in [*paths, ".gitattributes"]}
