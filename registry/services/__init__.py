"""Every state change of the domain. Plain keyword-only functions named <entity>_<action>.

Import from the submodules (`from registry.services.repos import repo_create`).
"""
