# The units the server runs and the Swarm stacks its abra reconcilers deploy. The reconcilers
# are oneshots, serialized so that a fresh host does not race (the phase-1c fix).
{ sopsManifest, traefikDynamic }:
{
  units = [
    { name = "sops-install-secrets.service"; type = "oneshot"; description = "sops-nix: decrypt the secrets into /run/secrets"; command = "sops-install-secrets ${sopsManifest}"; }
    { name = "docker.service"; type = "simple"; description = "Docker Application Container Engine"; command = "exec sleep infinity"; }
    { name = "traefik.service"; type = "simple"; description = "Traefik, the stacks' TLS proxy (wildcard cert from /var/lib/ci-certs/live)";
      command = "exec traefik --entrypoints.web.address=:80 --entrypoints.websecure.address=:443 --entrypoints.web.http.redirections.entrypoint.to=websecure --entrypoints.web.http.redirections.entrypoint.scheme=https --providers.file.filename=${traefikDynamic}"; }
    { name = "abra-deploy-proxy.service"; type = "oneshot"; description = "abra: deploy the traefik stack"; command = "true"; }
    { name = "abra-deploy-drone.service"; type = "oneshot"; description = "abra: deploy the drone stack"; command = "true"; }
    { name = "abra-deploy-bridge.service"; type = "oneshot"; description = "abra: deploy the comment-bridge stack"; command = "true"; }
    { name = "abra-deploy-dashboard.service"; type = "oneshot"; description = "abra: deploy the dashboard stack"; command = "true"; }
    { name = "abra-deploy-backupbot.service"; type = "oneshot"; description = "abra: deploy the backupbot stack"; command = "true"; }
  ];
  stacks = [
    { name = "traefik"; replicas = 1; }
    { name = "drone"; replicas = 1; }
    { name = "drone-runner"; replicas = 1; }
    { name = "bridge"; replicas = 1; }
    { name = "dashboard"; replicas = 1; }
    { name = "backupbot"; replicas = 1; }
  ];
}
