{ hostName }:
let
  services = import ./modules/services.nix;
  sops = import ./secrets.nix;
  tsv = rows: builtins.concatStringsSep "\n" (map (r: builtins.concatStringsSep "\t" r) rows) + "\n";
  toplevel = derivation {
    name = "nixos-system-${hostName}-24.05.lab";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-e" ./lib/toplevel.sh ];
    PATH = "/usr/bin:/bin";
    inherit hostName;
    nixosVersion = "24.05.lab";
    units = tsv (map (u: [ u.name u.type u.description u.command ]) services.units);
    stacks = tsv (map (s: [ s.name (toString s.replicas) ]) services.stacks);
    # As sops-nix does, the *encrypted* file is copied into the store; plaintext never is.
    sopsFile = sops.defaultSopsFile;
    sopsKeyFile = sops.age.keyFile;
    sopsSecrets = tsv (map (n: [ n (sops.secrets.${n}.path or "/run/secrets/${n}") ]) (builtins.attrNames sops.secrets));
    switchToConfiguration = ./lib/switch-to-configuration.sh;
  };
in
{
  config.networking.hostName = hostName;
  config.system.build.toplevel = toplevel;
}
