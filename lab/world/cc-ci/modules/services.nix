# The units the server runs, and the Swarm stacks its abra reconcilers deploy. The reconcilers
# are oneshots, serialized in this order so that a fresh host does not race (the phase-1c fix):
# the bridge's stack needs the secret that the drone stack creates.
{ sopsManifest, site }:
let
  compose = name: text: builtins.toFile "${name}.compose.yml" text;
  # deploy: the compose deploy block's lines (mode, replicas, placement), as docker stack deploy reads them.
  serviceWith = name: image: deploy: ''
    ${name}:
      image: ${image}
      deploy:
  '' + builtins.concatStringsSep "" (map (l: "    " + l + "\n") deploy);
  service = name: image: replicas: serviceWith name image [ "replicas: ${toString replicas}" ];
  # A service's lines (each ending in a newline), two spaces in: under `services:`.
  indent = s: "  " + builtins.replaceStrings [ "\n" ] [ "\n  " ] (builtins.substring 0 (builtins.stringLength s - 1) s) + "\n";
  stack = name: services: extra: {
    inherit name;
    file = compose name (''
      version: "3.8"
      services:
    '' + builtins.concatStringsSep "" (map indent services) + "\n" + extra);
  };
  stacks = {
    traefik = stack "traefik" [ (serviceWith "app" "traefik:v2.11" [ "mode: global" ]) ] "";
    drone = stack "drone" [ (service "app" "drone/drone:2.24" 1) ] ''
      secrets:
        bridge_token:
          name: drone_bridge_token
          file: /run/secrets/bridge_drone_token
      volumes:
        data:
    '';
    drone-runner = stack "drone-runner" [ (service "app" "drone/drone-runner-docker:1.8" 1) ] "";
    bridge = stack "bridge" [ (service "app" "git.autonomic.zone/recipe-maintainers/comment-bridge:1.3" 1) ] ''
      secrets:
        drone_bridge_token:
          external: true
    '';
    dashboard = stack "dashboard" [ (serviceWith "app" "git.autonomic.zone/recipe-maintainers/cc-ci-dashboard:1.1" [ "replicas: 1" "placement:" "  max_replicas_per_node: 1" ]) ] "";
    backupbot = stack "backupbot" [
      (service "app" "git.coopcloud.tech/coop-cloud/backup-bot-two:2.0" 1)
      (serviceWith "init" "git.coopcloud.tech/coop-cloud/backup-bot-two:2.0" [ "mode: replicated-job" "replicas: 1" ])
    ] "";
  };
  deploy = s: "docker stack deploy -c ${s.file} ${s.name}";
  reconciler = name: description: command: { name = "abra-deploy-${name}.service"; type = "oneshot"; inherit description command; };
  # Drone's users: the bridge's bot (its token is a sops secret) and the acceptance harness.
  droneServer = builtins.concatStringsSep " " [
    "umask 077; { printf 'cc-ci-bot %s\\n' \"$(cat /run/secrets/bridge_drone_token)\";"
    "if [ -f /var/lib/drone-lab/acceptance-token ]; then printf 'acceptance %s\\n' \"$(cat /var/lib/drone-lab/acceptance-token)\"; fi; } > /run/drone-tokens;"
    "exec env CI_DOMAIN=${site.domain} CI_GATEWAY=${site.gateway} CI_FORGE=${site.forge} CI_CA=/var/lib/ci-certs/live/fullchain.pem"
    "drone-server --port 8080 --state /var/lib/drone-lab/state.json --server-url https://drone.${site.domain}"
    "--scm-url ${site.gitea} --scm-git ${site.forge}"
    "--tokens-file /run/drone-tokens --workdir /var/lib/drone-lab/work --repo recipe-maintainers/cc-ci -- bash ${../ci/testme.sh}"
  ];
  bridgeConfig = builtins.toFile "comment-bridge.json" (builtins.toJSON {
    gitea = { url = site.gitea; tokenFile = "/run/secrets/bridge_gitea_token"; };
    drone = { url = "http://127.0.0.1:8080"; serverUrl = "https://drone.${site.domain}"; tokenFile = "/run/secrets/bridge_drone_token"; repo = "recipe-maintainers/cc-ci"; };
    org = "recipe-maintainers";
    repos = [ { owner = "recipe-maintainers"; name = "custom-html"; } ];
    pollMs = 500;
  });
in
{
  # sops-nix's default (no systemd-sysusers): an activation-script snippet, not a unit.
  activation = [ { name = "setupSecrets"; text = "sops-install-secrets ${sopsManifest}"; } ];
  units = [
    { name = "docker.service"; type = "simple"; description = "Docker Application Container Engine"; command = "exec sleep infinity"; }
    { name = "traefik.service"; type = "simple"; description = "Traefik, the stacks' TLS proxy (wildcard cert from /var/lib/ci-certs/live)";
      command = "exec traefik --entrypoints.web.address=:80 --entrypoints.websecure.address=:443 --entrypoints.web.http.redirections.entrypoint.to=websecure --entrypoints.web.http.redirections.entrypoint.scheme=https --providers.file.directory=/var/lib/traefik/dynamic --providers.file.watch=true"; }
    (reconciler "proxy" "abra: deploy the traefik stack" (deploy stacks.traefik))
    (reconciler "drone" "abra: deploy the drone and drone-runner stacks" "${deploy stacks.drone} && ${deploy stacks.drone-runner}")
    (reconciler "bridge" "abra: deploy the comment-bridge stack" (deploy stacks.bridge))
    (reconciler "dashboard" "abra: deploy the dashboard stack" (deploy stacks.dashboard))
    (reconciler "backupbot" "abra: deploy the backupbot stack" (deploy stacks.backupbot))
    { name = "drone-server.service"; type = "simple"; description = "Drone: runs the !testme pipeline (ci/testme.sh)"; command = droneServer; }
    { name = "comment-bridge.service"; type = "simple"; description = "comment-bridge: !testme on Gitea PRs starts Drone builds"; command = "exec comment-bridge --config ${bridgeConfig}"; }
  ];
  stacks = map (s: { inherit (s) name; replicas = 1; }) (builtins.attrValues stacks);
}
