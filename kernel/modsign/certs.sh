#!/usr/bin/env bash
# Writes the kernel's trusted certificates: OUT gets the DER certificate of
# every PEM file given (the signing key's own certificate first, then
# TRUSTED_CERTS), concatenated; the kernel reads them one after the other
# (each DER certificate carries its own length). OUT is rewritten only when its
# contents change, so an unchanged key does not rebuild the kernel.
# OUT.features gets the kernel features the keys need: `sig-ecdsa` when one
# is an EC key (Linux's MODULE_SIG_KEY_TYPE_ECDSA selecting CRYPTO_ECDSA).
# Usage: kernel/modsign/certs.sh OUT [PEM...]   (no PEM: no trusted keys)
set -euo pipefail
out=${1:?usage: certs.sh OUT [PEM...]}
shift
command -v openssl >/dev/null || { echo "certs: openssl not found (Debian package openssl; run 'make deps')" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.one"' EXIT
features=
for pem in "$@"; do
    [ -n "$pem" ] || continue
    [ -r "$pem" ] || { echo "certs: $pem: no such file" >&2; exit 1; }
    openssl x509 -in "$pem" -outform DER -out "$tmp.one" 2>/dev/null \
        || { echo "certs: $pem holds no PEM certificate" >&2; exit 1; }
    cat "$tmp.one" >> "$tmp"
    if openssl x509 -in "$pem" -noout -text 2>/dev/null | grep -q 'Public Key Algorithm: id-ecPublicKey'; then
        features=sig-ecdsa
    fi
    echo "certs: trusting $(openssl x509 -in "$pem" -noout -subject 2>/dev/null | sed 's/^subject=//')"
done
if ! cmp -s "$tmp" "$out"; then
    cp "$tmp" "$out"
fi
echo "$features" > "$out.features.tmp"
if ! cmp -s "$out.features.tmp" "$out.features"; then
    mv "$out.features.tmp" "$out.features"
else
    rm -f "$out.features.tmp"
fi
