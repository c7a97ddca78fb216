package disrupt_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/canarygate/canarygate/disrupt"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/summary"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

func replicas(t *testing.T, e *testenv.Env, ns, name string) int32 {
	t.Helper()
	d, err := e.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return *d.Spec.Replicas
}

// scaleWrites counts the writes of a Deployment's scale subresource and lets fail decide what each one does:
// whether it reaches the API server, and what the client is told.
type scaleWrites struct {
	n atomic.Int32
	// failAfterAccepted fails every write once the API server accepted one (a conflict with the Deployment's
	// controller is not accepted: client-go reads again and retries), without reaching the API server.
	failAfterAccepted bool
	accepted          atomic.Int32
	// loseFirstAnswer lets the first write the API server accepts take effect and tells the client it failed.
	loseFirstAnswer bool
	lost            atomic.Bool
	next            http.RoundTripper
}

func (s *scaleWrites) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/scale") {
		return s.next.RoundTrip(r)
	}
	s.n.Add(1)
	if s.failAfterAccepted && s.accepted.Load() > 0 {
		return nil, errInjected
	}
	resp, err := s.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	s.accepted.Add(1)
	if s.loseFirstAnswer && s.lost.CompareAndSwap(false, true) {
		_ = resp.Body.Close()
		return nil, errInjected
	}
	return resp, nil
}

// run runs one disrupt step of ns's Deployment a on the real API server, its scale writes through w.
func run(t *testing.T, e *testenv.Env, w *scaleWrites, ns, extra string) runner.Result {
	t.Helper()
	c := e.ClusterWith(t, func(next http.RoundTripper) http.RoundTripper { w.next = next; return w })
	return e.RunStepOn(context.Background(), t, c, runner.Readers{},
		fmt.Sprintf("name: keep-a-down\ndisrupt: {duration: 1s%s, scaleDown: {namespace: %s, deployment: a}}", extra, ns))
}

var errInjected = errors.New("connection reset by the test")

// A disruption it cannot undo is canarygate's failure, not the upgrade's — in the foreground too (the
// background's error reaches the run another way): the step's outcome is error, so the run's exit is 3 and no
// `when: failed` branch takes it for the upgrade failing.
func TestAForegroundDisruptionThatCannotBeRestoredIsAnError(t *testing.T) {
	e := testenv.Need(t, env)
	ns := e.Namespace(t, "unrestorable")
	e.CreateDeployment(t, ns, "a", 1)
	// The first accepted write scales to 0; every later one (the restoration) fails.
	w := &scaleWrites{failAfterAccepted: true}
	res := run(t, e, w, ns, "")
	assert.Equal(t, summary.OutcomeError, res.Outcome, "%v", res.Err)
	require.ErrorIs(t, res.Err, disrupt.ErrNotRestored)
	require.ErrorIs(t, res.Err, runner.ErrHarness)
	assert.ErrorContains(t, res.Err, errInjected.Error())
	assert.Equal(t, int32(0), replicas(t, e, ns, "a"), "what the restoration could not undo")
}

// A fault that could not be put in place was not rehearsed: nothing measured says what it would have done,
// so the step is the harness's error, never the upgrade's failure, and nothing is left disrupted.
func TestADisruptionThatCouldNotBePutInPlaceIsAnError(t *testing.T) {
	e := testenv.Need(t, env)
	all := &scaleWrites{}

	t.Run("no such deployment", func(t *testing.T) {
		ns := e.Namespace(t, "no-deployment")
		res := run(t, e, all, ns, "")
		assert.Equal(t, summary.OutcomeError, res.Outcome, "%v", res.Err)
		require.ErrorIs(t, res.Err, disrupt.ErrNotDisrupted)
		assert.ErrorContains(t, res.Err, `deployments.apps "a" not found`)
	})
	t.Run("a deployment already at 0 replicas", func(t *testing.T) {
		ns := e.Namespace(t, "at-zero")
		e.CreateDeployment(t, ns, "a", 0)
		before := all.n.Load()
		res := run(t, e, all, ns, "")
		assert.Equal(t, summary.OutcomeError, res.Outcome, "%v", res.Err)
		require.ErrorIs(t, res.Err, disrupt.ErrNotDisrupted)
		assert.ErrorContains(t, res.Err, "has 0 replicas: nothing to disrupt")
		assert.Equal(t, before, all.n.Load(), "no scale written")
	})
	t.Run("in the background of a run that keeps nothing in the background", func(t *testing.T) {
		ns := e.Namespace(t, "no-background")
		e.CreateDeployment(t, ns, "a", 1)
		before := all.n.Load()
		res := run(t, e, all, ns, ", background: true")
		assert.Equal(t, summary.OutcomeError, res.Outcome, "%v", res.Err)
		require.ErrorIs(t, res.Err, runner.ErrNoBackground)
		assert.Equal(t, before, all.n.Load(), "checked before anything was disrupted")
		assert.Equal(t, int32(1), replicas(t, e, ns, "a"))
	})
}

// A scale-down that reached the API server though its request failed (the answer lost: a timeout, an
// interrupt) is still undone: the restoration does not trust the error to mean "nothing happened".
func TestADisruptionWhoseRequestFailedAfterItTookEffectIsRestored(t *testing.T) {
	e := testenv.Need(t, env)
	ns := e.Namespace(t, "lost-answer")
	e.CreateDeployment(t, ns, "a", 2)
	w := &scaleWrites{loseFirstAnswer: true} // the scale to 0 takes effect; its answer is lost
	res := run(t, e, w, ns, "")
	assert.Equal(t, summary.OutcomeError, res.Outcome, "%v", res.Err)
	require.ErrorIs(t, res.Err, disrupt.ErrNotDisrupted)
	assert.NotErrorIs(t, res.Err, disrupt.ErrNotRestored)
	assert.Equal(t, int32(2), replicas(t, e, ns, "a"), "scaled back to the replicas it had")
	assert.True(t, w.lost.Load(), "the scale to 0 took effect")
	assert.GreaterOrEqual(t, w.n.Load(), int32(2), "the scale to 0, then the restoration's")
}

// readyPods waits until ns's pods labelled app=name are n, every one ready, and returns their UIDs.
func readyPods(t *testing.T, e *testenv.Env, ns, name string, n int) []types.UID {
	t.Helper()
	var uids []types.UID
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err
		}
		uids = uids[:0]
		for i := range list.Items {
			if p := &list.Items[i]; p.DeletionTimestamp == nil && podutils.IsPodReady(p) {
				uids = append(uids, p.UID)
			}
		}
		return len(uids) == n && len(list.Items) == n, nil
	})
	require.NoError(t, err, "%d ready pods of %s/%s", n, ns, name)
	return uids
}

// Killed pods are restored once their controller's replacements are ready: the window stays open until
// then, so that what fails while they come up is the disruption's, not the next step's — and replacements
// that never come up (here: every node cordoned, nowhere to schedule them) are a disruption not restored,
// the harness's error.
func TestKilledPodsAreRestoredOnceTheirReplacementsAreReady(t *testing.T) {
	e := testenv.Need(t, env)
	kill := func(ns string) runner.Result {
		return e.RunStep(context.Background(), t, "name: kill\ndisrupt: {duration: 500ms, deletePods: {namespace: "+ns+", selector: app=a}}")
	}

	t.Run("replaced", func(t *testing.T) {
		ns := e.Namespace(t, "kill-replaced")
		e.CreateDeployment(t, ns, "a", 2)
		before := readyPods(t, e, ns, "a", 2)
		res := kill(ns)
		require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
		// Read at once, not waited for: the step returned only once they were back.
		list, err := e.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=a"})
		require.NoError(t, err)
		ready := 0
		for i := range list.Items {
			p := &list.Items[i]
			assert.NotContains(t, before, p.UID, "a killed pod is still there")
			if p.DeletionTimestamp == nil && podutils.IsPodReady(p) {
				ready++
			}
		}
		assert.Equal(t, 2, ready, "ready replacements when the step ended: %+v", list.Items)
	})

	t.Run("never replaced", func(t *testing.T) {
		ns := e.Namespace(t, "kill-unreplaced")
		e.CreateDeployment(t, ns, "a", 1)
		readyPods(t, e, ns, "a", 1)
		cordon(t, e)
		was := disrupt.RestoreTimeout
		disrupt.RestoreTimeout = 3 * time.Second
		t.Cleanup(func() { disrupt.RestoreTimeout = was })
		res := kill(ns)
		assert.Equal(t, summary.OutcomeError, res.Outcome, "%v", res.Err)
		require.ErrorIs(t, res.Err, disrupt.ErrNotRestored)
		assert.ErrorContains(t, res.Err, "0 of the 1 pods app=a in "+ns+" ready again")
	})
}

// cordon marks every node unschedulable until the test ends.
func cordon(t *testing.T, e *testenv.Env) {
	t.Helper()
	set := func(unschedulable bool) error {
		nodes, err := e.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, n := range nodes.Items {
			patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, unschedulable)
			if _, err := e.Client.CoreV1().Nodes().Patch(context.Background(), n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return err
			}
		}
		return nil
	}
	require.NoError(t, set(true))
	t.Cleanup(func() { require.NoError(t, set(false)) })
}
