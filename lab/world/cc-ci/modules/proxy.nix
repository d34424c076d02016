# Traefik serves the wildcard cert for *.ci.<domain> and the dashboard at ci.<domain>, from the
# files sops-nix decrypts at activation (no ACME).
{ domain, fullchain, privkey }:
builtins.toFile "traefik-dynamic.yml" ''
  tls:
    certificates:
      - certFile: ${fullchain}
        keyFile: ${privkey}
  http:
    routers:
      dashboard:
        rule: Host(`${domain}`)
        entryPoints: [websecure]
        service: dashboard
        tls: {}
    services:
      dashboard:
        static:
          status: 200
          contentType: text/html
          body: "<h1>cc-ci dashboard</h1>"
''
