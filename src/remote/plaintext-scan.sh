# plaintext-scan: runs (with bash) on a host that holds a key; never on the runner.
# It decrypts every secret of a sops file (read from stdin) into memory that vanishes with it,
# then searches each target once for all of their forms at once, and prints only indexes,
# paths and counts, never a value:
#   searching I PATTERNS | skipped I BYTES | undecryptable I REASON
#   coverage KIND DIR key=N ... | hit I KIND WHERE | missing KIND DIR | error KIND DIR MESSAGE
# I is the secret's index in EXTRACTS (its line number, from 1).
#   bash -c "$(cat plaintext-scan.sh)" scan TAG KEYFILE MINLEN EXTRACTS TARGETS SOPS-COMMAND...
#   TAG: names this scan's processes (CC_CI_SCAN_TAG) and files, for the cleanup after a kill.
#   EXTRACTS: newline-separated sops --extract paths, e.g. ["test_secret"].
#   TARGETS: space-separated store:DIR tree:DIR history:GITDIR
# The forms of a value: its lines of at least MINLEN characters (PEM armour aside); its base64
# in each of the three byte alignments (whole, padded, with a trailing newline, and in 32-
# character pieces, which any line of a 64- or 76-column wrapping holds whole); its hex, lower
# and upper; its percent-encoding. Compressed files (.gz .tgz .xz .txz .bz2 .zst) are opened.
# A git directory is searched through every object it holds (git cat-file --batch-all-objects):
# every commit, tree, blob and tag on any ref, in the reflog, or dangling.
set -euo pipefail
tag=$1 keyfile=$2 minlen=$3 extracts=$4 targets=$5
shift 5

# Once: re-run with the tag in the environment (so that every process of the scan carries it)
# and, where the host allows it, in a private mount namespace whose /dev/shm is our own tmpfs:
# the plaintext then vanishes with the last process of the scan, however it ends.
if [ "${CC_CI_SCAN_TAG:-}" != "$tag" ]; then
  if unshare --mount --propagation private true 2>/dev/null; then
    exec env CC_CI_SCAN_TAG="$tag" CC_CI_SCAN_PRIVATE=1 unshare --mount --propagation private -- bash -c "$BASH_EXECUTION_STRING" "$0" "$tag" "$keyfile" "$minlen" "$extracts" "$targets" "$@"
  fi
  exec env CC_CI_SCAN_TAG="$tag" bash -c "$BASH_EXECUTION_STRING" "$0" "$tag" "$keyfile" "$minlen" "$extracts" "$targets" "$@"
fi
umask 077
if [ "${CC_CI_SCAN_PRIVATE:-}" = 1 ]; then
  mount -t tmpfs -o mode=0700,size=25% cc-ci-scan /dev/shm
  echo "memory private-tmpfs"
  base=/dev/shm
else
  base=/run
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; fi
  echo "memory $base"
fi
d=$(mktemp -d "$base/cc-ci-scan.$tag.XXXXXX")
trap 'rm -rf "$d"' EXIT INT TERM
export LC_ALL=C
cat > "$d/enc.yaml"
: > "$d/all"

die() { echo "error $1 $2 $(printf '%s' "$3" | tr -s '\t\n' '  ' | cut -c1-300)"; exit 4; }

# Percent-encoding of a file's bytes (RFC 3986: everything but A-Z a-z 0-9 - . _ ~).
urlencode() {
  od -An -v -tx1 "$1" | tr -s ' \n' '\n\n' | awk -v up="$2" '
    BEGIN { for (i = 0; i < 256; i++) hex[sprintf("%02x", i)] = i }
    NF { c = hex[$1]
         if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46 || c == 95 || c == 126) printf "%c", c
         else printf "%%%s", (up ? toupper($1) : $1) }
    END { print "" }'
}

# Every form of value file $1, one per line, each at least MINLEN long.
forms() {
  local v=$1 n j t len
  awk -v min="$minlen" 'length($0) >= min && $0 !~ /^-----(BEGIN|END) /' "$v"
  n=$(wc -c < "$v")
  base64 -w0 < "$v"; echo
  { cat "$v"; echo; } | base64 -w0; echo
  for j in 0 1 2; do
    [ "$n" -gt "$j" ] || continue
    len=$(( (n - j) / 3 * 4 ))
    [ "$len" -gt 0 ] || continue
    t=$(tail -c +$((j + 1)) "$v" | base64 -w0 | cut -c1-"$len")
    printf '%s\n' "$t"
    # Pieces of 32 on a grid: any 64- or 76-character line inside the encoding holds one whole.
    printf '%s' "$t" | fold -w 32 | awk 'length($0) == 32'
  done
  od -An -v -tx1 "$v" | tr -d ' \n'; echo
  od -An -v -tx1 "$v" | tr -d ' \n' | tr a-f A-F; echo
  urlencode "$v" 1
  urlencode "$v" 0
  urlencode "$v" 1 | sed 's/%20/+/g'
}

i=0
while IFS= read -r path; do
  [ -n "$path" ] || continue
  i=$((i + 1))
  if ! SOPS_AGE_KEY_FILE=$keyfile "$@" -d --input-type yaml --output-type yaml --extract "$path" "$d/enc.yaml" > "$d/v.$i" 2> "$d/err"; then
    echo "undecryptable $i $(tail -n 1 "$d/err" | tr -s '\t\n' '  ')"
    exit 3
  fi
  if [ "$(wc -c < "$d/v.$i")" -lt "$minlen" ]; then
    echo "skipped $i $(wc -c < "$d/v.$i")"
    rm -f "$d/v.$i"
    continue
  fi
  forms "$d/v.$i" | awk -v min="$minlen" 'length($0) >= min' | sort -u > "$d/p.$i"
  rm -f "$d/v.$i"
  echo "searching $i $(wc -l < "$d/p.$i")"
  cat "$d/p.$i" >> "$d/all"
done <<< "$extracts"
[ -s "$d/all" ] || { echo "nothing-to-search"; exit 0; }

# Which secrets a matched text holds: a fixed-string pass per secret over that text only.
name_hits() { # KIND WHERE, text on stdin
  cat > "$d/hit"
  for p in "$d"/p.*; do
    [ -f "$p" ] || continue
    if grep -qF -f "$p" "$d/hit"; then echo "hit ${p##*/p.} $1 $2"; fi
  done
  rm -f "$d/hit"
}

# grep exits 0 on a match, 1 on none, 2 on trouble: trouble makes the scan broken.
grep_files() { # KIND DIR
  local rc=0
  grep -rlF -f "$d/all" "$2" > "$d/hits" 2> "$d/err" || rc=$?
  [ "$rc" -le 1 ] || die "$1" "$2" "grep: $(head -n 3 "$d/err")"
  while IFS= read -r f; do name_hits "$1" "$f" < "$f"; done < "$d/hits"
}

# Compressed files, opened: the raw bytes were searched already, this is their content.
compressed() { # KIND DIR
  local ext tool n=0 bad=0 rc f
  for ext in gz:gzip tgz:gzip xz:xz txz:xz bz2:bzip2 zst:zstd; do
    tool=${ext#*:} ext=${ext%%:*}
    find "$2" -type f -name "*.$ext" -print0 > "$d/list" 2> "$d/err" || die "$1" "$2" "find: $(head -n 3 "$d/err")"
    [ -s "$d/list" ] || continue
    command -v "$tool" > /dev/null || die "$1" "$2" "cannot open $(tr -cd '\0' < "$d/list" | wc -c) .$ext file(s): $tool is not on this host"
    while IFS= read -r -d '' f; do
      n=$((n + 1))
      rc=0
      rm -f "$d/dcfail"
      # grep -q stops at the first match, so the tool's own status counts only when none matched.
      { "$tool" -dc < "$f" 2> /dev/null || : > "$d/dcfail"; } | grep -qF -f "$d/all" || rc=$?
      case $rc in
        0) { "$tool" -dc < "$f" 2> /dev/null || true; } | name_hits "$1" "$f" ;;
        1) if [ -e "$d/dcfail" ]; then
             bad=$((bad + 1))
             [ "$bad" -gt 20 ] || echo "undecodable $1 $f"
           fi ;;
        *) die "$1" "$2" "grep failed on the content of $f" ;;
      esac
    done < "$d/list"
  done
  echo "coverage compressed $2 files=$n undecodable=$bad"
}

# Every object of a git directory, by content; a hit names the object and where it lies.
objects() { # COVERAGE-KIND GITDIR
  local g=$2 rc=0 oid type where c p
  # git reports an object it cannot read as "missing" and on stderr, yet exits 0: both count.
  git -C "$g" cat-file --batch-all-objects --batch-check='%(objectname) %(objecttype) %(objectsize)' > "$d/objs" 2> "$d/err" \
    || die "$1" "$g" "git cat-file --batch-check: $(head -n 3 "$d/err")"
  [ ! -s "$d/err" ] || die "$1" "$g" "git cat-file --batch-check: $(head -n 3 "$d/err")"
  if grep -q ' missing$' "$d/objs"; then die "$1" "$g" "git cat-file: unreadable object(s): $(grep ' missing$' "$d/objs" | head -n 3 | cut -d' ' -f1 | tr '\n' ' ')"; fi
  echo "coverage $1 $g objects=$(wc -l < "$d/objs") commits=$(grep -c ' commit ' "$d/objs" || true) refs=$(git -C "$g" for-each-ref | wc -l) reflog=$(git -C "$g" reflog --all 2>/dev/null | wc -l)"
  { git -C "$g" cat-file --batch-all-objects --batch 2> "$d/err" || echo "$?" > "$d/gitrc"; } | grep -obaF -f "$d/all" | cut -d: -f1 > "$d/offsets" || rc=$?
  [ ! -s "$d/gitrc" ] && [ ! -s "$d/err" ] || die "$1" "$g" "git cat-file --batch: $(head -n 3 "$d/err")"
  [ "$rc" -le 1 ] || die "$1" "$g" "grep failed on the object stream"
  [ -s "$d/offsets" ] || return 0
  # The stream is, per object: "<oid> <type> <size>\n<content>\n"; offsets fall in one object each.
  awk 'NR == FNR { oid[n] = $1; type[n] = $2; start[n] = pos; pos += length($0) + 1 + $3 + 1; n++; next }
       { while (i < n - 1 && start[i + 1] <= $1) i++; if (!(i in seen)) { seen[i] = 1; print oid[i], type[i] } }' "$d/objs" "$d/offsets" |
    while read -r oid type; do
      case $type in
        blob)
          # The commits where the blob appears or goes; the first whose tree holds it names the path.
          # Every reader here reads to the end: under pipefail, a reader that stops early (exit,
          # head) kills its writer with SIGPIPE, and the scan stopped at a long tree's first hit.
          where="dangling-blob:$oid"
          for c in $(git -C "$g" log --all --reflog --format=%H --find-object="$oid" 2> /dev/null || true); do
            p=$(git -C "$g" ls-tree -r --full-tree "$c" | awk -F'\t' -v o="$oid" '{ split($1, m, " ") } m[3] == o && !found { print $2; found = 1 }')
            if [ -n "$p" ]; then where="$c:$p"; break; fi
          done ;;
        commit) where="commit-message:$oid" ;;
        tag) where="tag-message:$(git -C "$g" cat-file tag "$oid" | sed -n 's/^tag //p' | awk 'NR == 1')" ;;
        *) where="$type:$oid" ;;
      esac
      git -C "$g" cat-file "$type" "$oid" | name_hits "$1" "$where"
    done
}

for t in $targets; do
  kind=${t%%:*} dir=${t#*:}
  if [ ! -e "$dir" ]; then echo "missing $kind $dir"; continue; fi
  case $kind in
    store|tree)
      echo "coverage $kind $dir files=$(find "$dir" -type f | wc -l) bytes=$(du -sb "$dir" | cut -f1)"
      grep_files "$kind" "$dir"
      compressed "$kind" "$dir"
      if [ "$kind" = tree ] && [ -e "$dir/.git" ]; then objects tree-objects "$dir"; fi
      ;;
    history) objects history "$dir" ;;
    *) echo "unknown-target $t" ;;
  esac
done
echo "done"
