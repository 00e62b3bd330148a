"""Sphinx configuration of the course site (MyST-NB + sphinx-book-theme).

tools/build_course.py lays out the source folder (index.md made from the README's course map,
the executed chapters) and a folder of local assets (MathJax 3, the widget html-manager,
require.js, all from npm), then runs Sphinx with `-c site`. Nothing on a page comes from the
net: no CDN script, no web font. Execution is off: the notebooks come executed.
"""

import os

project = "The CAM course"
author = "The CAM course"
copyright = "the CAM course authors, MIT licence"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# --- notebooks -------------------------------------------------------------------------------
nb_execution_mode = "off"                     # build/executed/ holds the outputs already
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_dmath_double_inline = True               # `text $$x$$ text` is display math too
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]           # chapters start at "# NN · title" then "##"

# widgets: the html-manager and require.js served from _static/widgets (never a CDN). The
# CDN attribute points at a local folder so an unknown widget module fails locally instead of
# reaching out; all the course's widgets are ipywidgets' own, built into embed-amd.js.
nb_ipywidgets_js = {
    "widgets/require.js": {},
    "require-config.js": {},
    "widgets/embed-amd.js": {"data-jupyter-widgets-cdn": "_static/widgets/modules/"},
}

# --- math: a local MathJax 3 ---------------------------------------------------------------
mathjax_path = "mathjax/tex-chtml.js"         # under _static/
mathjax3_config = {
    "tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
            "processEscapes": True},
    "options": {"processHtmlClass": "tex2jax_process|mathjax_process|math|output_area",
                "ignoreHtmlClass": "tex2jax_ignore|mathjax_ignore|document"},
    "loader": {"load": ["[tex]/boldsymbol"]},
}

# --- HTML --------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "The CAM course"
# _static/ here (the course stylesheet) and the assets folder the build fills from npm
html_static_path = ["_static", os.environ.get("CAM_SITE_ASSETS", "../build/site-work/assets")]
html_css_files = ["course.css"]
html_js_files = [("mathjax2-shim.js", {"defer": "defer", "priority": 510})]   # after MathJax
html_copy_source = True                       # each chapter's .ipynb, downloadable
html_sourcelink_suffix = ""                   # ... as NN_name.ipynb, not NN_name.ipynb.txt
html_show_sourcelink = True
html_last_updated_fmt = None
html_theme_options = {
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_source_button": False,
    "show_prev_next": True,
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "navigation_with_keys": False,
    "search_bar_text": "Search the course...",
    "logo": {"text": "The CAM course"},
    "analytics": {},
}
html_sidebars = {"**": ["navbar-logo.html", "search-button-field.html", "sbt-sidebar-nav.html"]}
