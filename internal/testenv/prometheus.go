package testenv

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/wait"
)

// PrometheusScrapeInterval is how often the test's Prometheus scrapes its targets.
const PrometheusScrapeInterval = time.Second

// Prometheus starts a real Prometheus server (Debian's, $CANARYGATE_PROMETHEUS: hack/prometheus.sh installs
// it) on loopback, scraping targets (host:port, their /metrics) every second, and returns its URL once
// every target has been scraped up. It stops with the test. Required in CI, skipped elsewhere when unset.
func Prometheus(t testing.TB, targets ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: an integration test (it starts a real Prometheus)")
	}
	bin := os.Getenv("CANARYGATE_PROMETHEUS")
	if bin == "" {
		if Required() {
			t.Fatal("CANARYGATE_PROMETHEUS is not set: run make test (hack/prometheus.sh installs Debian's prometheus)")
		}
		t.Skip("set CANARYGATE_PROMETHEUS=$(bash hack/prometheus.sh) to run against a real Prometheus")
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	cfg := fmt.Sprintf("global:\n  scrape_interval: %s\n  evaluation_interval: %s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [%s]\n",
		model.Duration(PrometheusScrapeInterval), model.Duration(PrometheusScrapeInterval), strings.Join(quoted, ", "))
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logFile.Close()
	})
	u := "http://" + addr
	c, err := api.NewClient(api.Config{Address: u, Client: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	a := v1.NewAPI(c)
	// Ready when every target's up is 1: the first scrape happened, so the test's data is being recorded.
	want := len(targets)
	err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case <-exited:
			return false, fmt.Errorf("prometheus exited")
		default:
		}
		v, _, err := a.Query(ctx, `count(up{job="app"} == 1)`, time.Now())
		if err != nil {
			return false, nil
		}
		vec, ok := v.(model.Vector)
		return ok && len(vec) == 1 && int(vec[0].Value) == want, nil
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
		t.Fatalf("prometheus at %s never scraped its %d target(s) up: %v\n%s", u, want, err, log)
	}
	return u
}

// HostPort is a URL's host:port (a scrape target).
func HostPort(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
