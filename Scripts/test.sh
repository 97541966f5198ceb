#!/usr/bin/env bash
# Installs what the tests need and runs every test: Swift unit tests (protocol
# conformance vectors, SigV4 suite, edge), then the end-to-end tests that drive a
# real `kumo up` on an ephemeral port with boto3, the aws CLI and raw requests.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -r Tests/e2e/requirements.txt

swift build --build-tests
swift test --skip-build
python3 -m pytest Tests/e2e -q
