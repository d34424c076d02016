{
  description = "cc-ci (lab): the CI server for Co-op Cloud recipes, in miniature";

  # No inputs: the lab has no nixpkgs, so the system is built from this repo and the secrets
  # submodule alone. Build it with: nixos-rebuild build --flake 'git+file://<clone>?submodules=1#cc-ci'
  outputs = { self }: {
    nixosConfigurations.cc-ci = import ./system.nix { hostName = "cc-ci"; };
  };
}
