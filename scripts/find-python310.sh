#!/usr/bin/env bash
# Prints the path of a working Python 3.10 (Rasa 3.6.21 runs on nothing newer).
# Order: $PYTHON310, `python3.10` on the PATH (only if it really runs: pyenv shims may not),
# then pyenv's installed 3.10.x versions.
set -u
works() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }
for candidate in "${PYTHON310:-}" "$(command -v python3.10 2>/dev/null)"; do
  if works "$candidate"; then echo "$candidate"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  for dir in $(ls -d "$(pyenv root)"/versions/3.10* 2>/dev/null | sort -rV); do
    if works "$dir/bin/python3.10"; then echo "$dir/bin/python3.10"; exit 0; fi
  done
fi
cat >&2 <<'MSG'
No Python 3.10 found. Rasa 3.6.21 needs Python 3.10 exactly. Get one with either:
  pyenv install 3.10            (then run make again; pyenv is found automatically)
  apt-get install python3.10    (or your system's package, so that `python3.10` is on the PATH)
or point to one explicitly:  make install PYTHON310=/path/to/python3.10
MSG
exit 1
