# key-scan: lists the files under PATHS (not under EXCLUDED) that hold private key material,
# one "key KIND PATH" line each, then "done". Never prints what the files hold.
#   text: PEM or OpenSSH armour (-----BEGIN ... PRIVATE KEY-----), age identities
#         (AGE-SECRET-KEY-1, anywhere, binary files too), PuTTY and SSH2 (RFC 4716) private keys
#   der:  binary PKCS#8 (plain or PBES2-encrypted), PKCS#12 bundles, PKCS#1 RSA (any modulus of
#         512 bits or more, two or more primes) and SEC1 EC keys (P-256, P-384, P-521, secp256k1),
#         recognised by the ASN.1 bytes they begin with, in files up to 64 KiB
# The DER forms are matched on the file's first 32 bytes written as hex, not by a grep of the
# bytes themselves: grep reads lines, and a DER length byte may be 0x0a (a PKCS#12 bundle of
# 0x0a2f bytes begins 30 82 0a 2f), which would end the "line" inside the header. One grep per
# batch of files picks those whose first byte is 0x30 (and whose second can begin a length); only
# those are read again, by one od each.
# Errors of find, grep or od make the scan fail (exit 4) with "error PATH MESSAGE".
#   bash -c "$(cat key-scan.sh)" key-scan EXCLUDED... -- PATHS...
set -euo pipefail
export LC_ALL=C
prune=()
while [ "$1" != -- ]; do prune+=(-path "$1" -prune -o); shift; done
shift
err=$(mktemp)
trap 'rm -f "$err"' EXIT
text='AGE-SECRET-KEY-1|-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----|PuTTY-User-Key-File-[0-9]+:|---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----'
# On the hex of the first 32 bytes, two digits a byte, from the file's start.
len='(82....|81..|[0-7].)'
der="^30${len}02010[01]30${len}06"                       # PKCS#8
der="$der|^30${len}30${len}06092a864886f70d01050d"       # PKCS#8, PBES2
der="$der|^30(82....|83......)02010330"                  # PKCS#12
der="$der|^30(81..|82....)02010[01]02(8[12]|[4-7].)"     # PKCS#1 RSA (two- or multi-prime), modulus of 64 bytes or more
der="$der|^30${len}02010104(20|30|42)"                   # SEC1 EC
# What grep -obHZ prints for a line that begins with 0x30 then a length's first byte: "PATH\0OFFSET:0".
# Offset 0 is the file's first line, that is, the file begins so.
first='^\x30(?=[\x00-\x7f\x81-\x83])'
leading() { # names each file grep saw begin with 0x30 whose first 32 bytes match $der
  local f at hex
  while IFS= read -r -d '' f && IFS= read -r at; do
    [ "$at" = 0:0 ] || continue
    hex=$(od -An -v -tx1 -N32 -- "$f") || continue
    hex=${hex//[$' \n']/}
    if [[ $hex =~ $der ]]; then printf '%s\n' "$f"; fi
  done
}
scan() { # KIND FILTER FIND-TESTS... -- GREP-ARGS...: "key KIND PATH" for each file FILTER names of grep's output
  local kind=$1 filter=$2 rc=0 tests=()
  shift 2
  while [ "$1" != -- ]; do tests+=("$1"); shift; done
  shift
  { find "${paths[@]}" "${prune[@]}" -type f "${tests[@]}" -print0 2> "$err" || echo "find: $(head -n 2 "$err")" >&2; } |
    xargs -0 -r grep "$@" 2>> "$err" | "$filter" 2>> "$err" | sed "s/^/key $kind /" || rc=$?
  # grep exits 1 when no file matched; 123 is xargs saying one of its greps did.
  if { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] && [ "$rc" -ne 123 ]; } || [ -s "$err" ]; then
    echo "error ${paths[*]} $(head -n 3 "$err" | tr '\n' ' ')"
    exit 4
  fi
}
paths=()
for p in "$@"; do [ -e "$p" ] && paths+=("$p"); done
[ "${#paths[@]}" -gt 0 ] || { echo done; exit 0; }
scan text cat -- -laE -- "$text"
scan der leading -size -65k -- -obaHZ -m1 -P -- "$first"
echo done
