package actions

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/base/proc"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// spec is the step's action as its executor receives it.
func spec[T scenarios.ActionSpec](e *runner.Env) T { return e.Step.Action.(T) }

func env(a scenarios.ActionSpec) (*runner.Env, *bytes.Buffer) {
	var out bytes.Buffer
	if d, ok := a.(scenarios.Defaulter); ok {
		d.Default()
	}
	return &runner.Env{Step: &scenarios.Step{Name: "s", Action: a}, Output: &out, Processes: &runner.Processes{}}, &out
}

func TestRunPassesOnExit0AndFailsNamingTheStatus(t *testing.T) {
	e, out := env(&scenarios.RunAction{Command: "sh", Args: []string{"-c", "echo hello $GREETING"}, Env: map[string]string{"GREETING": "world"}})
	require.NoError(t, Run(context.Background(), e, spec[*scenarios.RunAction](e)))
	assert.Equal(t, "hello world\n", out.String())

	e, out = env(&scenarios.RunAction{Command: "sh", Args: []string{"-c", "echo broken >&2; exit 3"}})
	err := Run(context.Background(), e, spec[*scenarios.RunAction](e))
	require.Error(t, err)
	assert.Equal(t, "sh exited with status 3", err.Error())
	assert.Equal(t, "broken\n", out.String(), "stderr is kept for the report")

	e, _ = env(&scenarios.RunAction{Command: filepath.Join(t.TempDir(), "missing")})
	assert.ErrorIs(t, Run(context.Background(), e, spec[*scenarios.RunAction](e)), os.ErrNotExist)
}

// A step that times out ends its whole process group: the shell and a child that ignores SIGTERM get SIGKILL
// after the grace period, and no process of the step survives it.
func TestRunKillsTheWholeProcessGroupAfterTheGracePeriod(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	script := `trap '' TERM; sleep 40 & echo "$$ $!" > ` + pids + `.tmp; mv ` + pids + `.tmp ` + pids + `; wait`
	e, _ := env(&scenarios.RunAction{Command: "sh", Args: []string{"-c", script}, KillGrace: scenarios.Duration(300 * time.Millisecond)})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, e, spec[*scenarios.RunAction](e)) }()
	var data []byte
	require.Eventually(t, func() bool {
		var err error
		data, err = os.ReadFile(pids)
		return err == nil
	}, 30*time.Second, 5*time.Millisecond, "the script started its child")
	cancel() // the step timed out, or the run was interrupted
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("the step did not end after SIGTERM + grace")
	}
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		assert.Eventually(t, func() bool { return !proc.Alive(pid) }, 10*time.Second, 10*time.Millisecond, "pid %d outlived its step", pid)
	}
}

// A process a step left running in the background (the step itself passed) is killed by the run's
// Processes.KillAll, which the harness calls when the run ends.
func TestKillStartedEndsWhatPassedStepsLeftBehind(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	e, _ := env(&scenarios.RunAction{Command: "sh", Args: []string{"-c", "sleep 40 >/dev/null 2>&1 & echo $! > " + pidFile}})
	require.NoError(t, Run(context.Background(), e, spec[*scenarios.RunAction](e)))
	data, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	require.NoError(t, err)
	require.True(t, proc.Alive(pid), "still running after its step passed")
	assert.GreaterOrEqual(t, e.Processes.KillAll(), 1)
	assert.Eventually(t, func() bool { return !proc.Alive(pid) }, 10*time.Second, 10*time.Millisecond)
	assert.Zero(t, e.Processes.KillAll(), "each group is killed once")
	assert.True(t, errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) || !proc.Alive(pid))
}

func TestSoakHoldsForItsDurationAndStopsWhenCancelled(t *testing.T) {
	// Held at least its duration: a soak that returned at once would fail here (a lower bound only, which a
	// busy machine cannot break).
	e, _ := env(&scenarios.SoakAction{Duration: scenarios.Duration(200 * time.Millisecond)})
	start := time.Now()
	require.NoError(t, Soak(context.Background(), e, spec[*scenarios.SoakAction](e)))
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	e, _ = env(&scenarios.SoakAction{Duration: scenarios.Duration(time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, Soak(ctx, e, spec[*scenarios.SoakAction](e)), context.Canceled)
}

func TestHTTPPassesOnAnExpectedStatusAndFailsOnAnother(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "app.example" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("fine"))
	}))
	defer srv.Close()
	probe := func(path string) (string, error) {
		e, out := env(&scenarios.HTTPAction{Method: "GET", URL: srv.URL + path, Headers: map[string]string{"Host": "app.example"}, Expect: []int{200}})
		err := HTTP(context.Background(), e, spec[*scenarios.HTTPAction](e))
		return out.String(), err
	}
	out, err := probe("/")
	require.NoError(t, err)
	assert.Contains(t, out, "200 OK\nfine")
	_, err = probe("/down")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "answered 503 Service Unavailable, expected [200]")

	srv.Close()
	_, err = probe("/")
	require.Error(t, err, "nothing listening")
	assert.Contains(t, err.Error(), "connection refused")
}

func TestCheckFailsTheStepWhenItsGateFailsOnTheRunSoFar(t *testing.T) {
	gate := scenarios.Gate{Name: "zero", Kind: scenarios.GateNoUnexpectedStatus, Spec: &scenarios.NoUnexpectedStatus{}}
	e, out := env(&scenarios.CheckAction{Gate: gate})
	e.Snapshot = func() *summary.Run {
		return &summary.Run{Streams: []summary.Stream{{Name: "s", Totals: summary.Stats{Requests: 10, Successes: 10}}}}
	}
	require.NoError(t, Check(context.Background(), e, spec[*scenarios.CheckAction](e)))
	assert.Contains(t, out.String(), "zero: 0 responses unexpected out of 10 requests")

	e, _ = env(&scenarios.CheckAction{Gate: gate})
	e.Snapshot = func() *summary.Run {
		return &summary.Run{Streams: []summary.Stream{{Name: "s", Totals: summary.Stats{Requests: 10, Successes: 9, Failures: 1}}}}
	}
	err := Check(context.Background(), e, spec[*scenarios.CheckAction](e))
	require.Error(t, err)
	assert.Equal(t, "check zero failed: 1 response unexpected out of 10 requests", err.Error())

	e, _ = env(&scenarios.CheckAction{Gate: gate})
	assert.EqualError(t, Check(context.Background(), e, spec[*scenarios.CheckAction](e)), "no measurements available to check")
}

// retryFor waits for the endpoint to answer as expected (an ingress coming up) instead of one probe.
func TestHTTPRetryForWaitsUntilTheAnswerIsExpected(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("up"))
	}))
	defer srv.Close()
	e, _ := env(&scenarios.HTTPAction{Method: "GET", URL: srv.URL, Expect: []int{200}, RetryFor: scenarios.Duration(time.Minute)})
	require.NoError(t, HTTP(context.Background(), e, spec[*scenarios.HTTPAction](e)))
	assert.EqualValues(t, 3, calls.Load(), "probed until the third answered 200")

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	e, _ = env(&scenarios.HTTPAction{Method: "GET", URL: down.URL, Expect: []int{200}, RetryFor: scenarios.Duration(time.Second)})
	err := HTTP(context.Background(), e, spec[*scenarios.HTTPAction](e))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "probes in 1s")
	assert.Contains(t, err.Error(), "answered 503 Service Unavailable")
}
