# plaintext-scan: runs on a host that holds a key; never on the runner.
# It decrypts every named secret of a sops file (read from stdin) into a private directory in
# memory, then searches each target once for all of their values at once (fixed strings: each
# value's lines of at least MINLEN characters, PEM armour aside, and the value's base64 form).
# It prints only names, paths and counts, never a value:
#   searching NAME PATTERNS | skipped NAME BYTES | undecryptable NAME REASON
#   coverage KIND DIR files=N bytes=N | coverage history DIR commits=N refs=N
#   hit NAME KIND PATH
# usage: sh -c "$(cat plaintext-scan.sh)" scan KEYFILE MINLEN "NAMES" "TARGETS" SOPS-COMMAND...
#   TARGETS: space-separated store:DIR tree:DIR history:GITDIR
set -eu
keyfile=$1 minlen=$2 names=$3 targets=$4
shift 4
umask 077
base=/run
if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; fi
d=$(mktemp -d "$base/cc-ci-scan.XXXXXX")
trap 'rm -rf "$d"' EXIT INT TERM
cat > "$d/enc.yaml"
: > "$d/all"
for n in $names; do
  if ! SOPS_AGE_KEY_FILE=$keyfile "$@" -d --input-type yaml --output-type yaml --extract "[\"$n\"]" "$d/enc.yaml" > "$d/v.$n" 2> "$d/err"; then
    echo "undecryptable $n $(tail -n 1 "$d/err" | tr -s '\t\n' '  ')"
    exit 3
  fi
  awk -v min="$minlen" 'length($0) >= min && $0 !~ /^-----(BEGIN|END) /' "$d/v.$n" > "$d/p.$n"
  if [ ! -s "$d/p.$n" ]; then
    echo "skipped $n $(wc -c < "$d/v.$n")"
    rm -f "$d/p.$n"
    continue
  fi
  base64 -w0 < "$d/v.$n" >> "$d/p.$n"
  echo >> "$d/p.$n"
  rm -f "$d/v.$n"
  echo "searching $n $(wc -l < "$d/p.$n")"
  cat "$d/p.$n" >> "$d/all"
done
[ -s "$d/all" ] || { echo "nothing-to-search"; exit 0; }

# Which secrets a matched file holds: one more fixed-string pass over that file per secret.
report_hits() { # KIND DIR HITS-FILE
  while IFS= read -r f; do
    for p in "$d"/p.*; do
      [ -f "$p" ] || continue
      if { if [ "$1" = history ]; then git -C "$2" show "$f" 2>/dev/null; else cat "$f"; fi; } | grep -qF -f "$p"; then
        echo "hit ${p##*/p.} $1 $f"
      fi
    done
  done < "$3"
}

for t in $targets; do
  kind=${t%%:*} dir=${t#*:}
  if [ ! -e "$dir" ]; then echo "missing $kind $dir"; continue; fi
  case $kind in
    store|tree)
      echo "coverage $kind $dir files=$(find "$dir" -type f | wc -l) bytes=$(du -sb "$dir" | cut -f1)"
      grep -rlF -f "$d/all" "$dir" > "$d/hits" 2>/dev/null || true
      report_hits "$kind" "$dir" "$d/hits"
      ;;
    history)
      echo "coverage history $dir commits=$(git -C "$dir" rev-list --all | wc -l) refs=$(git -C "$dir" for-each-ref | wc -l)"
      git -C "$dir" rev-list --all | xargs -r git -C "$dir" grep -lF -f "$d/all" > "$d/hits" 2>/dev/null || true
      report_hits history "$dir" "$d/hits"
      ;;
    *) echo "unknown-target $t" ;;
  esac
done
