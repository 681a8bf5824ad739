// Pins the modules whose CRD manifests test/cluster/build.ts copies into $CACHE_DIR/crds/<key>/
// (ensureRouteCRDs). Nothing here is compiled: build.ts runs `go mod download -json <module>` in
// this directory and checks the reported hashes against go.sum.
//
// gateway-api v1.6.3 is the newest release whose go.mod accepts Go 1.26 (v1.7.0 asks for 1.27).
// v3 ships only traefik.io CRDs; the traefik.containo.us ones come from Traefik v2's CRD file
// (TRAEFIK_V2_CRDS, see build.ts).
module kube-external-sync/test/cluster/go/crds

go 1.26.0

require (
	github.com/traefik/traefik/v3 v3.7.13
	sigs.k8s.io/gateway-api v1.6.3
)
