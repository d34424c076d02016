#!/bin/sh
# switch-to-configuration for the lab's cc-ci: activates this system and starts its units.
set -eu
toplevel=$(dirname "$(dirname "$(readlink -f "$0")")")
action=${1:-switch}
[ "$action" = switch ] || { echo "switch-to-configuration: only 'switch' is supported" >&2; exit 1; }

echo "activating the configuration..." >&2
echo "setting up /etc..." >&2
hostname "$(cat "$toplevel/etc/hostname")"
ln -sfn "$toplevel" /run/current-system

echo "starting the following units: $(cut -f1 "$toplevel/etc/units.tsv" | tr '\n' ' ')" >&2
rc=0
while IFS="$(printf '\t')" read -r unit _; do
  [ -n "$unit" ] || continue
  systemctl start "$unit" || rc=4
done < "$toplevel/etc/units.tsv"
if [ "$rc" != 0 ]; then
  echo "warning: error(s) occurred while switching to the new configuration" >&2
fi
exit "$rc"
