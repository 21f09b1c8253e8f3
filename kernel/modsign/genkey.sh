#!/usr/bin/env bash
# Makes a development module-signing key: private key and self-signed
# certificate in one PEM, as Linux's certs/Makefile makes certs/signing_key.pem
# from x509.genkey. Usage: kernel/modsign/genkey.sh OUT.pem [rsa:2048|rsa:4096|p256|p384]
# (default rsa:2048). Never overwrites an existing file. The key is for
# development only and must never be committed (build/ is gitignored).
set -euo pipefail
out=${1:?usage: genkey.sh OUT.pem [rsa:2048|rsa:4096|p256|p384]}
type=${2:-rsa:2048}
[ -e "$out" ] && { echo "genkey: $out exists; not overwritten" >&2; exit 0; }
command -v openssl >/dev/null || { echo "genkey: openssl not found (Debian package openssl; run 'make deps')" >&2; exit 1; }
case $type in
    rsa:*) newkey=(-newkey "$type") ;;
    p256) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
    p384) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:secp384r1) ;;
    *) echo "genkey: unknown key type $type" >&2; exit 1 ;;
esac
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/x509.genkey" <<GENKEY
[ req ]
default_bits = 2048
distinguished_name = req_distinguished_name
prompt = no
string_mask = utf8only
x509_extensions = myexts

[ req_distinguished_name ]
O = unikernel development
CN = unikernel development module signing key on $(hostname)
emailAddress = modules@localhost

[ myexts ]
basicConstraints=critical,CA:FALSE
keyUsage=digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
GENKEY
umask 077
openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 -config "$tmp/x509.genkey" \
    "${newkey[@]}" -outform PEM -out "$tmp/key.pem" -keyout "$tmp/key.pem" 2>"$tmp/log" \
    || { cat "$tmp/log" >&2; echo "genkey: openssl req failed" >&2; exit 1; }
mv "$tmp/key.pem" "$out"
echo "genkey: $out ($type, private key + certificate; development only)"
