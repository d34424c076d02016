# Builds the system closure: what NixOS calls the toplevel.
mkdir -p "$out/bin" "$out/etc"
echo "$nixosVersion" > "$out/nixos-version"
echo "$hostName" > "$out/etc/hostname"
printf '%s' "$units" > "$out/etc/units.tsv"
printf '%s' "$stacks" > "$out/etc/stacks.tsv"
ln -s "$sopsManifest" "$out/etc/sops-manifest.json"
cp "$switchToConfiguration" "$out/bin/switch-to-configuration"
chmod 0555 "$out/bin/switch-to-configuration"
