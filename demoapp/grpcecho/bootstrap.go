package grpcecho

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"
)

// BootstrapEnv names the xDS bootstrap file; Istio's grpc-agent injection template sets it to
// /etc/istio/proxy/grpc-bootstrap.json (manifests/charts/istio-control/istio-discovery/files/grpc-agent.yaml).
const BootstrapEnv = "GRPC_XDS_BOOTSTRAP"

// WaitForBootstrap waits until the xDS bootstrap file at path exists and every file its certificate
// providers name (Istio's: /var/lib/istio/data/{cert-chain,key,root-cert}.pem, written by pilot-agent,
// pkg/istio-agent/grpcxds/grpc_bootstrap.go) exists and is not empty. It must hold before grpc-go reads the
// bootstrap: grpc-go's file_watcher certificate provider re-reads a missing file only after its refresh
// interval (Istio sets 15 minutes), so an app that starts first would serve or call without mTLS for that
// long. It checks every poll (the files come from another process: there is no event to wait on) until ctx
// ends.
func WaitForBootstrap(ctx context.Context, path string, poll time.Duration) ([]string, error) {
	var missing []string
	for {
		files, err := bootstrapFiles(path)
		missing = missing[:0]
		if err == nil {
			for _, f := range files {
				if st, err := os.Stat(f); err != nil || st.Size() == 0 {
					missing = append(missing, f)
				}
			}
			if len(missing) == 0 {
				return files, nil
			}
		} else {
			missing = append(missing, path+" ("+err.Error()+")")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("xDS bootstrap not ready, still missing %v: %w", missing, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// bootstrap is the part of gRPC's xDS bootstrap file (gRFC A27, certificate providers from A29) read here.
type bootstrap struct {
	XDSServers           []json.RawMessage `json:"xds_servers"`
	CertificateProviders map[string]struct {
		PluginName string `json:"plugin_name"`
		Config     struct {
			CertificateFile   string `json:"certificate_file"`
			PrivateKeyFile    string `json:"private_key_file"`
			CACertificateFile string `json:"ca_certificate_file"`
		} `json:"config"`
	} `json:"certificate_providers"`
}

// bootstrapFiles reads the bootstrap file and returns the files its file_watcher certificate providers name.
func bootstrapFiles(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var b bootstrap
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("xDS bootstrap %s: %w", path, err)
	}
	if len(b.XDSServers) == 0 {
		return nil, fmt.Errorf("xDS bootstrap %s names no xds_servers", path)
	}
	var files []string
	for _, p := range b.CertificateProviders {
		for _, f := range []string{p.Config.CertificateFile, p.Config.PrivateKeyFile, p.Config.CACertificateFile} {
			if f != "" && !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	slices.Sort(files)
	return files, nil
}
