#!/usr/bin/env bash
# Screenshots of the built site in headless Chromium with every host but localhost unresolvable
# (the site must render offline: math by the MathJax copy inside the site, figures from the site).
#   sudo apt-get install chromium        # Debian's package; not needed by the test suite
#   bash scripts/docs_screenshots.sh [OUT_DIR]   # -> OUT_DIR/{home,tutorial1,metrics}.png
set -euo pipefail
out=${1:-site-screenshots}
py=${PYTHON:-.venv/bin/python}
NO_MKDOCS_2_WARNING=1 KERAS_BACKEND=torch "$py" -m mkdocs build --strict --site-dir site -q
mkdir -p "$out"
port=8765
"$py" -m http.server "$port" --bind 127.0.0.1 --directory site > /dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
sleep 1
for page in ":home" "tutorials/01_data_and_metrics/:tutorial1" "concepts/metrics/:metrics" "concepts/eigen/:eigen"; do
  url=${page%%:*}; name=${page##*:}
  chromium --headless=new --no-sandbox --disable-gpu --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
    --window-size=1280,2400 --virtual-time-budget=8000 --screenshot="$out/$name.png" \
    "http://127.0.0.1:$port/$url" 2> /dev/null
done
ls -l "$out"
