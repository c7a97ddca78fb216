package mesh

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/canarygate/canarygate/checks"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/scenarios"
)

func init() {
	checks.Register(scenarios.GateGatewayAddressStable, func() *scenarios.GatewayAddressStable { return &scenarios.GatewayAddressStable{} },
		checks.AddressStable, checks.Observed(observeAddress))
}

// observeAddress watches the Service's address and the ready endpoints behind it, for the whole run: a
// Service that keeps its address but has no ready endpoint for a moment is an outage all the same.
func observeAddress(ctx context.Context, spec *scenarios.GatewayAddressStable, clusters *cluster.Set, record func(key, value string)) error {
	c, err := clusters.Get(spec.Cluster)
	if err != nil {
		return err
	}
	addr, eps := checks.ObservationKey(spec), checks.EndpointsObservationKey(spec)
	errs := make(chan error, 2)
	go func() {
		errs <- WatchServiceAddress(ctx, c, spec.Namespace, spec.Service, func(v string) { record(addr, v) })
	}()
	go func() {
		errs <- WatchReadyEndpoints(ctx, c, spec.Namespace, spec.Service, func(n int) { record(eps, strconv.Itoa(n)) })
	}()
	return errors.Join(<-errs, <-errs)
}

// ServiceAddress is what clients of a Service depend on: cluster IP, ports and node ports, load balancer
// ingress.
func ServiceAddress(s *corev1.Service) string {
	var ports []string
	for _, p := range s.Spec.Ports {
		port := fmt.Sprintf("%s:%d/%s", p.Name, p.Port, p.Protocol)
		if p.NodePort != 0 {
			port += fmt.Sprintf("→node:%d", p.NodePort)
		}
		ports = append(ports, port)
	}
	sort.Strings(ports)
	var lb []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		lb = append(lb, in.IP+in.Hostname)
	}
	out := fmt.Sprintf("%s %s ports %s", s.Spec.Type, s.Spec.ClusterIP, strings.Join(ports, ","))
	if len(lb) > 0 {
		out += " ingress " + strings.Join(lb, ",")
	}
	return out
}

// WatchServiceAddress records the Service's address now and at every change until ctx ends (a missing
// Service is recorded as "absent").
func WatchServiceAddress(ctx context.Context, c *cluster.Cluster, ns, name string, record func(string)) error {
	svcs := c.Client.CoreV1().Services(ns)
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := kube.ListWatch(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return svcs.List(ctx, o) },
		svcs.Watch, func(o *metav1.ListOptions) { o.FieldSelector = sel })
	last := ""
	note := func(v string) {
		if v != last {
			last = v
			record(v)
		}
	}
	pre := func(store cache.Store) (bool, error) {
		items := store.List()
		if len(items) == 0 {
			note(checks.Absent)
		} else {
			note(ServiceAddress(items[0].(*corev1.Service)))
		}
		return false, nil
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Service{}, pre, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			note(checks.Absent)
		case watch.Added, watch.Modified:
			if s, ok := ev.Object.(*corev1.Service); ok {
				note(ServiceAddress(s))
			}
		}
		return false, nil
	})
	if ctx.Err() != nil {
		return nil // watched until the run ended
	}
	return err
}

// WatchReadyEndpoints records how many ready endpoints the Service's EndpointSlices hold, now and at every
// change, until ctx ends. An endpoint without a ready condition counts as ready, as the API defines it.
func WatchReadyEndpoints(ctx context.Context, c *cluster.Cluster, ns, service string, record func(int)) error {
	slices := c.Client.DiscoveryV1().EndpointSlices(ns)
	sel := discoveryv1.LabelServiceName + "=" + service
	lw := kube.ListWatch(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return slices.List(ctx, o) },
		slices.Watch, func(o *metav1.ListOptions) { o.LabelSelector = sel })
	last := -1
	count := func(store cache.Store) {
		n := 0
		for _, item := range store.List() {
			for _, ep := range item.(*discoveryv1.EndpointSlice).Endpoints {
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					n++
				}
			}
		}
		if n != last {
			last = n
			record(n)
		}
	}
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	pre := func(s cache.Store) (bool, error) {
		for _, item := range s.List() {
			_ = store.Add(item)
		}
		count(store)
		return false, nil
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &discoveryv1.EndpointSlice{}, pre, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			_ = store.Delete(ev.Object)
		case watch.Added, watch.Modified:
			_ = store.Update(ev.Object)
		default:
			return false, nil
		}
		count(store)
		return false, nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}
