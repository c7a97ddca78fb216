package mesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

// istiodMonitoringPort serves istiod's metrics and its debug endpoints (InitDebug on the monitoring mux in
// pilot/pkg/bootstrap/server.go).
const istiodMonitoringPort = 15014

// PortForwardIstiodConnections reads /debug/connections on istiod's monitoring port through a port-forward,
// as istioctl reaches istiod. istiod answers its debug endpoints only to an authenticated caller or to
// localhost (allowAuthenticatedOrLocalhost in pilot/pkg/xds/debug.go); a port-forwarded connection is made
// from localhost inside the pod, while through the API server's pod proxy it would come from the API server
// without credentials (the API server consumes the caller's Authorization header) and get 401.
func PortForwardIstiodConnections(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod) (io.ReadCloser, error) {
	transport, upgrader, err := spdy.RoundTripperFor(c.Config)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	url := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	// As kubectl port-forward dials: WebSockets first (the API server's current protocol), SPDY when the
	// server or a proxy on the way refuses the upgrade.
	if ws, err := portforward.NewSPDYOverWebsocketDialer(url, c.Config); err == nil {
		dialer = portforward.NewFallbackDialer(ws, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	fwCtx, stop := context.WithCancel(ctx)
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesWithContext(fwCtx, dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", istiodMonitoringPort)}, ready, io.Discard, io.Discard)
	if err != nil {
		stop()
		return nil, fmt.Errorf("port-forward to %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	// fail ends the forward (and waits for it) before returning err.
	fail := func(err error) (io.ReadCloser, error) {
		stop()
		<-done
		return nil, err
	}
	select {
	case <-ready:
	case err := <-done:
		stop()
		return nil, fmt.Errorf("port-forward to %s/%s:%d: %w", pod.Namespace, pod.Name, istiodMonitoringPort, err)
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		return fail(fmt.Errorf("port-forward to %s/%s: no local port (%v)", pod.Namespace, pod.Name, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/debug/connections", ports[0].Local), nil)
	if err != nil {
		return fail(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(fmt.Errorf("istiod %s/%s /debug/connections: %w", pod.Namespace, pod.Name, err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return fail(fmt.Errorf("istiod %s/%s /debug/connections: %s", pod.Namespace, pod.Name, resp.Status))
	}
	return &forwardedBody{ReadCloser: resp.Body, stop: stop, done: done}, nil
}

// forwardedBody ends the port-forward when the answer has been read.
type forwardedBody struct {
	io.ReadCloser
	stop context.CancelFunc
	done chan error
}

func (b *forwardedBody) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	<-b.done
	return err
}

// liveConnections is, for every proxy some istiod lists, the istiod pods (with their revision) it is
// connected to; per lists each istiod's count, for the record.
type liveConnections struct {
	byProxy map[string][]istiodRef
	per     []string
	total   int
}

// istiodRef is an istiod pod a proxy is connected to, and its revision.
type istiodRef struct{ pod, revision string }

func (r istiodRef) String() string { return fmt.Sprintf("%s (revision %s)", r.pod, r.revision) }

// proxies lists the connected proxies' IDs, at most ten and a count of the rest.
func (l liveConnections) proxies() string {
	ids := make([]string, 0, len(l.byProxy))
	for id := range l.byProxy {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) > 10 {
		ids = append(ids[:10:10], fmt.Sprintf("and %d more", len(ids)-10))
	}
	if len(ids) == 0 {
		return "no proxy ID in their connection IDs"
	}
	return strings.Join(ids, ", ")
}

// readLiveConnections asks every running istiod pod in ns matching selector which proxies are connected to
// it; no such pod is no connection (the caller decides whether that is a problem).
func readLiveConnections(ctx context.Context, env *runner.Env, c *cluster.Cluster, ns, selector string) (liveConnections, error) {
	out := liveConnections{byProxy: map[string][]istiodRef{}}
	fetch := env.Readers.IstiodConnections.Or(PortForwardIstiodConnections)
	err := eachRunningIstiod(ctx, c, ns, selector, func(p *corev1.Pod) error {
		rc, err := fetch(ctx, c, p)
		if err != nil {
			return fmt.Errorf("cannot read the connections of istiod %s/%s: %w", p.Namespace, p.Name, err)
		}
		conns, err := istio.ParseConnections(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("istiod %s/%s: %w", p.Namespace, p.Name, err)
		}
		ref := istiodRef{pod: p.Name, revision: p.Labels[istio.RevisionLabel]}
		for _, cl := range conns.Clients {
			if cl.Proxy != "" {
				out.byProxy[cl.Proxy] = append(out.byProxy[cl.Proxy], ref)
			}
		}
		out.total += conns.Total
		out.per = append(out.per, fmt.Sprintf("%s: %d connected", p.Name, conns.Total))
		return nil
	})
	if err != nil {
		return out, err
	}
	sort.Strings(out.per)
	return out, nil
}

// checkConnected is the live half of proxyRevision: every live injected pod of pods must be connected to an
// istiod of the revision, and to no other. It waits up to a.ConnectWithin for that to hold (a proxy that just
// started may not be listed yet) and returns the last shortfall otherwise.
func checkConnected(ctx context.Context, env *runner.Env, c *cluster.Cluster, a *scenarios.ProxyRevisionAction, pods []corev1.Pod) error {
	deadline := time.Now().Add(a.ConnectWithin.D())
	for {
		live, err := readLiveConnections(ctx, env, c, a.IstiodNamespace, "app=istiod")
		if err == nil && len(live.per) == 0 {
			err = fmt.Errorf("no running istiod pod (app=istiod) in %s to ask which proxies are connected", a.IstiodNamespace)
		}
		var bad []string
		n := 0
		if err == nil {
			err = istio.EachProxy(pods, func(p *corev1.Pod, px istio.Proxy) {
				if !px.Injected {
					return
				}
				n++
				refs := live.byProxy[istio.ProxyID(p.Namespace, p.Name)]
				var other []string
				for _, r := range refs {
					if r.revision != a.Revision {
						other = append(other, r.String())
					}
				}
				// Listed, and by no other revision's istiod, is listed by this revision's.
				switch {
				case len(refs) == 0:
					bad = append(bad, fmt.Sprintf("%s/%s is connected to no istiod", p.Namespace, p.Name))
				case len(other) > 0:
					bad = append(bad, fmt.Sprintf("%s/%s is connected to istiod %s", p.Namespace, p.Name, strings.Join(other, ", ")))
				}
			})
		}
		if err == nil && len(bad) == 0 {
			env.Changed("%d proxy(ies) in %s: each connected to an istiod of revision %s and no other (istiod's /debug/connections: %s)", n, strings.Join(a.Namespaces, ", "), a.Revision, strings.Join(live.per, "; "))
			// And istiod's own gauge, for the record: the drain later waits for the old revision's to reach 0.
			if xds, err := connectedProxies(ctx, env, c, a.IstiodNamespace, a.Revision); err == nil {
				env.Changed("revision %s: pilot_xds %s", a.Revision, strings.Join(xds.per, ", "))
			} else {
				env.Changed("revision %s: pilot_xds not read: %v", a.Revision, err)
			}
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%w: %s (istiod's /debug/connections: %s)", ErrMisplaced, strings.Join(bad, "; "), strings.Join(live.per, "; "))
		}
		if !time.Now().Before(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}
