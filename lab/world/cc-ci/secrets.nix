# sops-nix configuration: every secret comes from the secrets submodule, decrypted at
# activation with the age key in sops.age.keyFile (the host key, or the recovery key on a
# freshly installed host).
{
  defaultSopsFile = ./secrets/secrets.yaml;
  age.keyFile = "/var/lib/sops-nix/key.txt";
  secrets = {
    test_secret = { };
    drone_rpc_secret = { };
    drone_gitea_client_secret = { };
    bridge_drone_token = { };
    bridge_gitea_token = { };
    bridge_webhook_hmac = { };
    wildcard_cert = { path = "/var/lib/ci-certs/live/fullchain.pem"; };
    wildcard_key = { path = "/var/lib/ci-certs/live/privkey.pem"; };
  };
}
