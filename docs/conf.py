"""Sphinx configuration: MyST Markdown, furo, autodoc of the public API; built with -W."""

from __future__ import annotations

import auditcase_mailchimp

project = "auditcase-mailchimp"
author = "auditcase-mailchimp developers"
copyright = "2026, auditcase-mailchimp developers"
release = auditcase_mailchimp.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "auditcase-mailchimp"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# No intersphinx: the build machines reach no network beyond the package registries, so the
# standard library's names are listed below as known instead of linked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:class", r"attrs\..*"),
    (r"py:class", r"requests\..*"),
    (r"py:class", r"cattrs\..*"),
    (r"py:class", r"auditcase_mailchimp\._.*"),
    (r"py:.*", r"(collections\.abc|typing|enum|datetime|os|pathlib|contextlib|types|io)\..*"),
    (r"py:class", r"(datetime|Path|PathLike|TextIO|Iterable|Iterator|Mapping|Sequence|Callable)"),
    (r"py:.*", r"(str|int|float|bool|bytes|object|None|frozenset|tuple|dict|list|type)"),
    (r"py:exc", r"(ValueError|TypeError|OSError|KeyError)"),
]
