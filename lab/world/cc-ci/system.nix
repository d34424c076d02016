{ hostName }:
let
  site = import ./modules/site.nix;
  sops = import ./secrets.nix;
  secretPath = n: sops.secrets.${n}.path or "/run/secrets/${n}";
  # The manifest sops-nix's activation reads; the *encrypted* file is copied into the store.
  sopsManifest = builtins.toFile "manifest.json" (builtins.toJSON {
    secrets = map (n: {
      name = n; key = n; path = secretPath n; owner = "root"; group = "root"; mode = "0400";
      sopsFile = "${sops.defaultSopsFile}"; format = "yaml"; restartUnits = [ ]; reloadUnits = [ ];
    }) (builtins.attrNames sops.secrets);
    templates = [ ]; placeholderBySecretName = { };
    secretsMountPoint = "/run/secrets.d"; symlinkPath = "/run/secrets"; keepGenerations = 1;
    sshKeyPaths = [ ]; gnupgHome = ""; ageKeyFile = sops.age.keyFile; ageSshKeyPaths = [ ];
    useTmpfs = false; userMode = false;
    logging = { keyImport = true; secretChanges = true; };
  });
  traefikDynamic = import ./modules/proxy.nix {
    inherit (site) domain;
    fullchain = secretPath "wildcard_cert";
    privkey = secretPath "wildcard_key";
  };
  services = import ./modules/services.nix { inherit sopsManifest site; };
  tsv = rows: builtins.concatStringsSep "\n" (map (r: builtins.concatStringsSep "\t" r) rows) + "\n";
  toplevel = derivation {
    name = "nixos-system-${hostName}-24.05.lab";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-e" ./lib/toplevel.sh ];
    PATH = "/usr/bin:/bin";
    inherit hostName sopsManifest traefikDynamic;
    nixosVersion = "24.05.lab";
    units = tsv (map (u: [ u.name u.type u.description u.command ]) services.units);
    # The activation script: each snippet wrapped as nixpkgs' activation-script.nix does.
    activate = builtins.concatStringsSep "" (map (a: ''
      #### Activation script snippet ${a.name}:
      _localstatus=0
      ${a.text} || _localstatus=$?
      if (( _localstatus > 0 )); then
        printf "Activation script snippet '%s' failed (%s)\n" "${a.name}" "$_localstatus"
        _status=$_localstatus
      fi
    '') services.activation);
    stacks = tsv (map (s: [ s.name (toString s.replicas) ]) services.stacks);
    switchToConfiguration = ./lib/switch-to-configuration.sh;
  };
in
{
  config.networking.hostName = hostName;
  config.networking.domain = site.domain;
  config.sops = sops;
  config.system.build.toplevel = toplevel;
}
