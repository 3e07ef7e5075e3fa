# Sourced: makes target/python-venv with tests/python/requirements.txt installed, once per change
# of that file. Sets: VENV.
VENV=target/python-venv
if ! cmp -s tests/python/requirements.txt "$VENV/requirements.txt" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
    cp tests/python/requirements.txt "$VENV/requirements.txt"
fi
