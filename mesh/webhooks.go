package mesh

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/canarygate/canarygate/checks"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/scenarios"
)

// webhookSyncTimeout bounds the observer's first list of everything it watches.
const webhookSyncTimeout = time.Minute

func init() {
	checks.Register(scenarios.GateWebhooksServe, func() *scenarios.WebhooksServe { return &scenarios.WebhooksServe{} },
		checks.WebhooksServe, checks.Observed(observeWebhooks))
}

// observeWebhooks records, for the whole run, the state of every Istio webhook (configurations labelled
// istio.io/rev) and of the Service behind it: on every change of a configuration, a Service or an
// EndpointSlice in the watched namespaces, each webhook whose state changed is recorded (checks.WebhookState).
// client-go informers keep the caches: one list and one watch per resource, whatever the churn.
func observeWebhooks(ctx context.Context, spec *scenarios.WebhooksServe, clusters *cluster.Set, record func(key, value string)) error {
	c, err := clusters.Get(spec.Cluster)
	if err != nil {
		return err
	}
	w, err := newWebhookWatch(c, spec.Namespaces)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, f := range w.factories {
		f.Start(ictx.Done())
		wg.Add(1)
		go func() { defer wg.Done(); <-ictx.Done(); f.Shutdown() }()
	}
	// Bounded: informers retry a forbidden list for ever, and the gate would then say only "nothing observed".
	sctx, scancel := context.WithTimeout(ctx, webhookSyncTimeout)
	defer scancel()
	if !cache.WaitForCacheSync(sctx.Done(), w.synced...) {
		if ctx.Err() != nil {
			return nil // the run ended first
		}
		return fmt.Errorf("webhooks: no complete list of webhook configurations, Services and EndpointSlices in %s within %s (may canarygate list and watch them?)", strings.Join(spec.Namespaces, ", "), webhookSyncTimeout)
	}
	prefix := checks.WebhookObservationPrefix(spec)
	last := map[string]string{}
	for {
		now, err := w.states()
		if err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
		for k := range last {
			if _, ok := now[k]; !ok {
				now[k] = checks.WebhookState{Gone: true}.String()
			}
		}
		for _, k := range slices.Sorted(maps.Keys(now)) {
			if last[k] != now[k] {
				last[k] = now[k]
				record(prefix+k, now[k])
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.changed:
		}
	}
}

// webhookWatch holds the informers of what webhooksServe watches and a signal of any change.
type webhookWatch struct {
	factories []informers.SharedInformerFactory
	synced    []cache.InformerSynced
	changed   chan struct{}
	mwcs      func() ([]*admissionv1.MutatingWebhookConfiguration, error)
	vwcs      func() ([]*admissionv1.ValidatingWebhookConfiguration, error)
	// byNS answers, per watched namespace, whether a Service exists and how many ready endpoints it has.
	byNS map[string]serviceLookup
}

type serviceLookup struct {
	exists func(name string) (bool, error)
	ready  func(service string) (int, error)
}

func newWebhookWatch(c *cluster.Cluster, namespaces []string) (*webhookWatch, error) {
	w := &webhookWatch{changed: make(chan struct{}, 1), byNS: map[string]serviceLookup{}}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: func(any) { w.poke() }, UpdateFunc: func(any, any) { w.poke() }, DeleteFunc: func(any) { w.poke() }}
	watch := func(infs ...cache.SharedIndexInformer) error {
		for _, inf := range infs {
			if _, err := inf.AddEventHandler(handler); err != nil {
				return err
			}
			w.synced = append(w.synced, inf.HasSynced)
		}
		return nil
	}
	// Istio's webhooks carry istio.io/rev (injectors, validators, tags, the default validator): only those.
	hooks := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = istio.RevisionLabel
	}))
	m, v := hooks.Admissionregistration().V1().MutatingWebhookConfigurations(), hooks.Admissionregistration().V1().ValidatingWebhookConfigurations()
	if err := watch(m.Informer(), v.Informer()); err != nil {
		return nil, err
	}
	w.mwcs = func() ([]*admissionv1.MutatingWebhookConfiguration, error) {
		return m.Lister().List(labels.Everything())
	}
	w.vwcs = func() ([]*admissionv1.ValidatingWebhookConfiguration, error) {
		return v.Lister().List(labels.Everything())
	}
	w.factories = append(w.factories, hooks)
	for _, ns := range namespaces {
		f := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
		svcs, eps := f.Core().V1().Services(), f.Discovery().V1().EndpointSlices()
		if err := watch(svcs.Informer(), eps.Informer()); err != nil {
			return nil, err
		}
		w.byNS[ns] = serviceLookup{
			exists: func(name string) (bool, error) {
				_, err := svcs.Lister().Services(ns).Get(name)
				if apierrors.IsNotFound(err) {
					return false, nil
				}
				return err == nil, err
			},
			ready: func(service string) (int, error) {
				list, err := eps.Lister().EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: service}))
				return readyEndpoints(list), err
			},
		}
		w.factories = append(w.factories, f)
	}
	return w, nil
}

func (w *webhookWatch) poke() {
	select {
	case w.changed <- struct{}{}:
	default: // a change is already signalled: the next scan sees this one too
	}
}

// readyEndpoints counts the ready endpoints of a Service's EndpointSlices; an endpoint without a ready
// condition counts as ready, as the API defines it.
func readyEndpoints(list []*discoveryv1.EndpointSlice) int {
	n := 0
	for _, s := range list {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n++
			}
		}
	}
	return n
}

// states is every watched webhook's state now, by "Kind/configuration/webhook".
func (w *webhookWatch) states() (map[string]string, error) {
	now := map[string]string{}
	ms, err := w.mwcs()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		for _, h := range m.Webhooks {
			now["MutatingWebhookConfiguration/"+m.Name+"/"+h.Name] = w.state(h.FailurePolicy, h.ClientConfig).String()
		}
	}
	vs, err := w.vwcs()
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		for _, h := range v.Webhooks {
			now["ValidatingWebhookConfiguration/"+v.Name+"/"+h.Name] = w.state(h.FailurePolicy, h.ClientConfig).String()
		}
	}
	return now, nil
}

// state is one webhook's: its failure policy (Fail when unset, as the API defaults it) and who serves it.
func (w *webhookWatch) state(policy *admissionv1.FailurePolicyType, cc admissionv1.WebhookClientConfig) checks.WebhookState {
	st := checks.WebhookState{Policy: string(admissionv1.Fail)}
	if policy != nil {
		st.Policy = string(*policy)
	}
	if cc.Service == nil {
		st.URL = "(none)"
		if cc.URL != nil {
			st.URL = *cc.URL
		}
		return st
	}
	st.Service = cc.Service.Namespace + "/" + cc.Service.Name
	l, ok := w.byNS[cc.Service.Namespace]
	if !ok {
		return st
	}
	st.Watched = true
	if exists, err := l.exists(cc.Service.Name); err == nil && !exists {
		st.Absent = true
		return st
	}
	st.Ready, _ = l.ready(cc.Service.Name)
	return st
}
