#!/bin/sh
# switch-to-configuration for the lab's cc-ci: activates this system, then (re)starts the units
# that are new or whose definition changed, and starts any that are not running; unchanged
# running units are left alone, as NixOS does.
set -eu
toplevel=$(dirname "$(dirname "$(readlink -f "$0")")")
action=${1:-switch}
# test activates like switch; the lab has no boot loader, so neither touches one.
case $action in switch|test) ;; *) echo "switch-to-configuration: only 'switch' and 'test' are supported" >&2; exit 1 ;; esac
old=$(readlink -f /run/current-system 2>/dev/null || true)
tab=$(printf '\t')

echo "activating the configuration..." >&2
echo "setting up /etc..." >&2
hostname "$(cat "$toplevel/etc/hostname")"
ln -sfn "$toplevel" /run/current-system
# Traefik's file provider watches this directory; the link changes only when the config does.
mkdir -p /var/lib/traefik/dynamic
dynamic=$(readlink -f "$toplevel/etc/traefik-dynamic.yml")
[ "$(readlink /var/lib/traefik/dynamic/00-cc-ci.yml 2>/dev/null)" = "$dynamic" ] || ln -sfn "$dynamic" /var/lib/traefik/dynamic/00-cc-ci.yml

# The activation script first (sops-nix's setupSecrets among its snippets); a failed one is exit 2.
rc=0
"$toplevel/activate" "$toplevel" >&2 || rc=2
started=""
while IFS="$tab" read -r unit rest; do
  [ -n "$unit" ] || continue
  before=""
  [ -n "$old" ] && [ -f "$old/etc/units.tsv" ] && before=$(grep -F "$unit$tab" "$old/etc/units.tsv" | head -n 1 || true)
  if [ "$before" = "$unit$tab$rest" ] && [ "$(systemctl is-active "$unit" 2>/dev/null </dev/null)" = active ]; then continue; fi
  started="$started $unit"
  systemctl restart "$unit" </dev/null || { [ "$rc" != 0 ] || rc=4; }
done < "$toplevel/etc/units.tsv"
[ -z "$started" ] || echo "starting the following units:$started" >&2
exit "$rc"
