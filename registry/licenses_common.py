"""The common open licenses the hub ships (SPDX ids as the Hub's `license:` card field names them).

Loaded by migration 0022 with get_or_create: a license an admin already has (or edited) is left as it is. Custom
licenses (Llama-style community licenses, a member's own terms) stay an admin's choice in /admin/.
"""

from __future__ import annotations

COMMON_LICENSES: tuple[tuple[str, str, str], ...] = (
    ("apache-2.0", "Apache License 2.0", "https://www.apache.org/licenses/LICENSE-2.0"),
    ("mit", "MIT License", "https://opensource.org/license/mit"),
    ("bsd-2-clause", "BSD 2-Clause License", "https://opensource.org/license/bsd-2-clause"),
    ("bsd-3-clause", "BSD 3-Clause License", "https://opensource.org/license/bsd-3-clause"),
    ("cc-by-4.0", "Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    ("cc-by-sa-4.0", "Creative Commons Attribution-ShareAlike 4.0",
     "https://creativecommons.org/licenses/by-sa/4.0/"),
    ("cc-by-nc-4.0", "Creative Commons Attribution-NonCommercial 4.0",
     "https://creativecommons.org/licenses/by-nc/4.0/"),
    ("openrail", "BigScience OpenRAIL-M", "https://huggingface.co/spaces/bigcode/bigcode-model-license-agreement"),
)


def license_text(name: str, url: str) -> str:
    return f"This model is released under the **{name}**.\n\nThe full text: <{url}>\n"
