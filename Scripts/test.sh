#!/usr/bin/env bash
# Installs what the tests need and runs every test: Swift unit tests (protocol
# conformance vectors, SigV4 suite, edge), then the end-to-end tests that drive a
# real `kumo up` on an ephemeral port with boto3, the aws CLI, curl, dig and raw requests.
set -euo pipefail
cd "$(dirname "$0")/.."

# curl drives the S3 website endpoint and CloudFront, dig the DNS server, openssl and ssh-keygen
# check certificates and key pairs in the end-to-end tests; the build links the system zlib and
# Brotli encoder (CloudFront's gzip and br).
if ! command -v curl > /dev/null || ! command -v dig > /dev/null || ! command -v openssl > /dev/null \
    || ! command -v ssh-keygen > /dev/null || [ ! -f /usr/include/zlib.h ] || [ ! -f /usr/include/brotli/encode.h ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq curl dnsutils openssl openssh-client zlib1g-dev libbrotli-dev
fi

python3 -m pip install --quiet --disable-pip-version-check -r Tests/e2e/requirements.txt

swift build --build-tests
swift test --skip-build
python3 -m pytest Tests/e2e -q
