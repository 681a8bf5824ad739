module kube-external-sync/test/cluster/go/metacontroller

go 1.26.4

require metacontroller v0.0.0-00010101000000-000000000000

tool metacontroller/pkg/cmd/metacontroller

// Metacontroller's go.mod names its module "metacontroller", so it is reached through a replace
// pinned to the commit of v4.17.2.
replace metacontroller => github.com/metacontroller/metacontroller v0.0.0-00010101000000-76b818bdc67b
