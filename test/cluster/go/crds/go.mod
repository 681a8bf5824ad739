// Pins the modules whose CRD manifests test/cluster/build.ts copies into $CACHE_DIR/crds/<key>/
// (ensureRouteCRDs). Nothing here is compiled: build.ts runs `go mod download -json <module>` in
// this directory, then hashes the extracted module itself (dirhash h1, as `go mod verify` does)
// and compares it and the reported go.mod hash with go.sum, so the files come from exactly these
// module zips.
//
// sigs.k8s.io/gateway-api v1.7.0 declares `go 1.27.0`. With Go 1.26 and GOTOOLCHAIN=local the
// download and extraction still complete and only the final version check fails; build.ts accepts
// exactly that error (the hash check still applies). Commands that load the whole module graph
// (`go mod tidy`, `go mod verify`) need Go >= 1.27 here.
//
// The Traefik v2 API group (traefik.containo.us) is not available: the proxy answers 403 for
// github.com/traefik/traefik/v2 and github.com/traefik/traefik, and v3 ships only traefik.io CRDs.
module kube-external-sync/test/cluster/go/crds

go 1.26.0

require (
	github.com/traefik/traefik/v3 v3.7.13
	sigs.k8s.io/gateway-api v1.7.0
)
