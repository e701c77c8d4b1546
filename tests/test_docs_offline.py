"""The built docs load no script from outside the site (math renders offline)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_site_references_no_external_script(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--site-dir", str(tmp_path / "site"), "-q"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={"NO_MKDOCS_2_WARNING": "1", "PATH": "", "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    pages = list((tmp_path / "site").rglob("*.html"))
    assert len(pages) > 10
    external = set()
    for p in pages:
        html = p.read_text(encoding="utf-8")
        external |= set(re.findall(r"<script[^>]+src=\"((?:https?:)?//[^\"]+)\"", html))
        external |= set(re.findall(r"<link[^>]+href=\"((?:https?:)?//[^\"]+\.(?:css|js)[^\"]*)\"", html))
    assert not external, sorted(external)
    assert (tmp_path / "site" / "javascripts" / "mathjax" / "tex-svg.js").exists()


def test_home_page_figure_is_the_examples_output():
    """The home page's figure and table come from the JSON examples/fdd_precoding.py writes
    (``--json X.json`` -> ``X.md``, ``X_tput_vs_bits.png``), never pasted."""
    import json

    home = (ROOT / "docs" / "index.md").read_text()
    figs = re.findall(r"\]\((results/[^)]+_tput_vs_bits\.png)\)", home)
    assert len(figs) == 1
    stem = figs[0][: -len("_tput_vs_bits.png")]
    js, md, png = (ROOT / "docs" / f"{stem}.json", ROOT / "docs" / f"{stem}.md", ROOT / "docs" / figs[0])
    assert js.exists() and md.exists() and png.exists()
    assert f'--8<-- "docs/{stem}.md"' in home and f"--json docs/{stem}.json" in home
    res = json.loads(js.read_text())
    assert res["scenario"]["name"] in home and {"etype2-pc3", "type1-wb"} <= {r["scheme"] for r in res["rows"]}
    # the table is the one written with that JSON: every scheme of the JSON is in it
    assert all(f"`{r['scheme']}`" in md.read_text() for r in res["rows"])


def test_mathjax_config_typesets_arithmatex_and_notebook_markdown():
    """MathJax 3 skips an element whose class matches ``ignoreHtmlClass`` unless it matches
    ``processHtmlClass``; a class-less element inherits from its parent. The notebook pages
    hold their math in a class-less ``<p>`` inside ``jp-RenderedMarkdown``: an ignore pattern that
    matches the empty class (the usual ``".*|"``) leaves it as raw LaTeX (seen in a headless
    browser)."""
    js = (ROOT / "docs" / "javascripts" / "mathjax-config.js").read_text()
    ignore = re.search(r'ignoreHtmlClass:\s*"([^"]*)"', js).group(1)
    process = re.search(r'processHtmlClass:\s*"([^"]*)"', js).group(1)
    # the regular expressions MathJax 3 builds from them (HTMLDomStrings.getPatterns)
    ign, proc = (re.compile(f"(?:^| )(?:{p})(?: |$)") for p in (ignore, process))

    def ignored(chain):  # classes from the page root down to the text's element
        skip = False
        for cname in chain:
            skip = bool(skip or ign.search(cname)) and not proc.search(cname)
        return skip

    article = ["", "md-container", "md-content", "md-content__inner md-typeset"]
    assert not ignored([*article, "", "arithmatex"])  # pymdownx.arithmatex span
    assert not ignored([*article, "jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput", ""])  # <p>
    assert ignored([*article, ""])  # plain text with a dollar sign stays text
    assert ignored([*article, "jp-Cell jp-CodeCell", "jp-OutputArea-output", ""])  # notebook output
