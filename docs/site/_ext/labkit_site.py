"""A Sphinx extension of the course website (loaded by docs/site/_config.yml).

Jupyter Book 1.0.4 with sphinx-thebe 0.3 and sphinx-togglebutton 0.4 adds their inline
configuration scripts twice to every page (Sphinx 7.4 registers an inline script once
with the file name ``None`` and again with ``""``, which it does not see as equal); the
second ``const THEBE_JS_URL`` is a SyntaxError in the browser console (tests/test_site_browser.py). Each page here gets every
script once, in the order first seen.
"""

from __future__ import annotations


def _once(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        attrs = getattr(script, "attributes", {}) or {}
        name = (script.filename or "") if hasattr(script, "filename") else str(script)
        key = (name, tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app):
    # First of the handlers: the event stops at the first one that returns a template name.
    app.connect("html-page-context", _once, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
