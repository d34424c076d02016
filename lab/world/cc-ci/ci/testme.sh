#!/usr/bin/env bash
# The !testme pipeline (run by Drone for a custom build with PR, RECIPE, REF, QUICK): deploy the
# recipe at REF to a per-run subdomain, test it over the public gateway, undeploy it.
# Environment from the Drone server: CI_DOMAIN, CI_GATEWAY, CI_FORGE, CI_CA.
set -euo pipefail
: "${RECIPE:?}" "${REF:?}" "${CI_DOMAIN:?}" "${CI_GATEWAY:?}" "${CI_FORGE:?}"
app="${RECIPE:0:4}-$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
domain="$app.$CI_DOMAIN"
work=$(mktemp -d)
port=$((20000 + ${DRONE_BUILD_NUMBER:-0} % 10000))

undeploy() {
  echo "::step undeploy"
  if [ -f "/run/apps/$app.pid" ]; then kill "$(cat "/run/apps/$app.pid")" 2>/dev/null || true; rm -f "/run/apps/$app.pid"; fi
  rm -f "/var/lib/traefik/dynamic/$app.yml"
  docker stack rm "$app"
  docker volume rm "${app}_content"
  echo "undeployed $domain"
  echo "::exit 0"
}
hold() { if [ "${QUICK:-false}" = true ]; then sleep 2; else sleep 6; fi; }
# A failing test holds the deployment too, as a test suite collecting its logs would.
fail() { echo "$*"; hold; echo "::exit 1"; exit 1; }

echo "::step deploy"
git clone --quiet "$CI_FORGE/$RECIPE.git" "$work/recipe"
git -C "$work/recipe" checkout --quiet "$REF"
# As abra does: the recipe's own compose file at REF, its secret generated for this app.
printf 'secret-for-%s\n' "$app" > "$work/recipe/app_secret"
(cd "$work/recipe" && docker stack deploy -c compose.yml "$app")
mkdir -p /run/apps /var/lib/traefik/dynamic
setsid node -e '
  const [root, port] = process.argv.slice(1);
  const fs = require("node:fs"), path = require("node:path");
  require("node:http").createServer((q, s) => {
    const f = path.join(root, q.url === "/" ? "index.html" : path.normalize(q.url));
    fs.readFile(f, (e, b) => { s.writeHead(e ? 404 : 200, { "content-type": "text/html" }); s.end(e ? "not found" : b); });
  }).listen(Number(port), "127.0.0.1");' "$work/recipe" "$port" > /dev/null 2>&1 < /dev/null &
echo $! > "/run/apps/$app.pid"
cat > "/var/lib/traefik/dynamic/$app.yml" <<YAML
http:
  routers:
    $app:
      rule: Host(\`$domain\`)
      entryPoints: [websecure]
      service: $app
      tls: {}
  services:
    $app:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:$port
YAML
echo "DEPLOYED_URL=https://$domain"
trap undeploy EXIT

echo "::step test"
expect=$(cat "$work/recipe/tests/expect.txt")
ok=0
for _ in $(seq 1 60); do
  if body=$(curl -fsS --max-time 5 --cacert "$CI_CA" --resolve "$domain:443:$CI_GATEWAY" "https://$domain/" 2>/dev/null); then ok=1; break; fi
  sleep 0.5
done
[ "$ok" = 1 ] || fail "the app never answered through the gateway"
grep -qF "$expect" <<<"$body" || fail "the app answered, but without \"$expect\""
echo "the app answers through the gateway: $(printf '%s' "$body" | sha256sum | cut -c1-16)"
# Hold the deployment a moment, as the full test suite would (--quick: shorter).
hold
echo "::exit 0"
