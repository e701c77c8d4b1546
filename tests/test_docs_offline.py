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
