# key-scan: lists the files under PATHS (not under EXCLUDED) that hold private key material,
# one "key KIND PATH" line each, then "done". Never prints what the files hold.
#   text: PEM or OpenSSH armour (-----BEGIN ... PRIVATE KEY-----), age identities
#         (AGE-SECRET-KEY-1, anywhere, binary files too), PuTTY and SSH2 (RFC 4716) private keys
#   der:  binary PKCS#8 (plain or PBES2-encrypted), PKCS#12 bundles, PKCS#1 RSA and SEC1 EC keys,
#         recognised by their leading ASN.1 bytes, in files up to 64 KiB
# Errors of find or grep make the scan fail (exit 4) with "error PATH MESSAGE".
#   bash -c "$(cat key-scan.sh)" key-scan EXCLUDED... -- PATHS...
set -euo pipefail
export LC_ALL=C
prune=()
while [ "$1" != -- ]; do prune+=(-path "$1" -prune -o); shift; done
shift
err=$(mktemp)
trap 'rm -f "$err"' EXIT
text='AGE-SECRET-KEY-1|-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----|PuTTY-User-Key-File-[0-9]+:|---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----'
len='(\x82..|\x81.|[\x00-\x7f])'
der="^\\x30${len}\\x02\\x01[\\x00\\x01]\\x30${len}\\x06"                                # PKCS#8
der="$der|^\\x30${len}\\x30${len}\\x06\\x09\\x2a\\x86\\x48\\x86\\xf7\\x0d\\x01\\x05\\x0d" # PKCS#8, PBES2
der="$der|^\\x30(\\x82..|\\x83...)\\x02\\x01\\x03\\x30"                                  # PKCS#12
der="$der|^\\x30\\x82..\\x02\\x01\\x00\\x02\\x82"                                       # PKCS#1 RSA
der="$der|^\\x30${len}\\x02\\x01\\x01\\x04[\\x20\\x30\\x42]"                             # SEC1 EC
scan() { # KIND FIND-TESTS... -- GREP-ARGS...
  local kind=$1 rc=0 tests=()
  shift
  while [ "$1" != -- ]; do tests+=("$1"); shift; done
  shift
  { find "${paths[@]}" "${prune[@]}" -type f "${tests[@]}" -print0 2> "$err" || echo "find: $(head -n 2 "$err")" >&2; } |
    xargs -0 -r grep -la "$@" 2>> "$err" | sed "s/^/key $kind /" || rc=$?
  # grep exits 1 when no file matched; 123 is xargs saying one of its greps did.
  if { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] && [ "$rc" -ne 123 ]; } || [ -s "$err" ]; then
    echo "error ${paths[*]} $(head -n 3 "$err" | tr '\n' ' ')"
    exit 4
  fi
}
paths=()
for p in "$@"; do [ -e "$p" ] && paths+=("$p"); done
[ "${#paths[@]}" -gt 0 ] || { echo done; exit 0; }
scan text -- -E -- "$text"
scan der -size -65k -- -P -- "$der"
echo done
