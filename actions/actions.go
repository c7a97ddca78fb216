// Package actions holds the executors of the core step actions: run a command, soak under load, probe once
// over HTTP, and check the timeline so far.
package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/canarygate/canarygate/base/ctxcall"
	"github.com/canarygate/canarygate/checks"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

func init() {
	runner.Register(scenarios.ActionRun, func() *scenarios.RunAction { return &scenarios.RunAction{} }, Run)
	runner.Register(scenarios.ActionSoak, func() *scenarios.SoakAction { return &scenarios.SoakAction{} }, Soak)
	runner.Register(scenarios.ActionHTTP, func() *scenarios.HTTPAction { return &scenarios.HTTPAction{} }, HTTP)
	runner.Register(scenarios.ActionCheck, func() *scenarios.CheckAction { return &scenarios.CheckAction{} }, Check)
}

// Run runs the step's command; its stdout and stderr go into the step output. A non-zero exit fails the step.
func Run(ctx context.Context, env *runner.Env, a *scenarios.RunAction) error {
	cmd := exec.CommandContext(ctx, a.Command, a.Args...)
	cmd.Dir = a.Dir
	cmd.Stdout, cmd.Stderr = env.Output, env.Output
	cmd.Env = os.Environ()
	if env.Step.Cluster != "" {
		// The user's own command acts on the cluster the step names — the one canarygate created or was given
		// — never on whatever the ambient kubeconfig points at.
		c, err := env.Cluster()
		if err != nil {
			return err
		}
		if c.Kubeconfig != "" {
			cmd.Env = append(cmd.Env, "KUBECONFIG="+c.Kubeconfig)
		}
		cmd.Env = append(cmd.Env, "CANARYGATE_CLUSTER="+c.Name)
	}
	for k, v := range a.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// The command may start children (a shell script running kubectl...): give it its own process group. When
	// the step times out or the run is interrupted, the whole group gets SIGTERM, then SIGKILL after
	// the step's killGrace — a child that ignores SIGTERM (or holds the output pipe) must not outlive the step.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var killTimer *time.Timer
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		killTimer = time.AfterFunc(a.KillGrace.D(), func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		return syscall.Kill(-pgid, syscall.SIGTERM)
	}
	// A backstop only: the group's SIGKILL closes the pipes first.
	cmd.WaitDelay = a.KillGrace.D() + 2*time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", a.Command, err)
	}
	pgid := cmd.Process.Pid
	env.Processes.Add(pgid)
	err := cmd.Wait()
	if killTimer != nil {
		killTimer.Stop()
		if ctx.Err() != nil {
			// Cancelled: nothing of the step's group may go on, whatever its leader did.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	env.Processes.Settle(pgid)
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && ctx.Err() == nil {
		return fmt.Errorf("%s exited with status %d", a.Command, exit.ExitCode())
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s stopped: %w", a.Command, ctx.Err())
	}
	return fmt.Errorf("run %s: %w", a.Command, err)
}

// Soak holds for the step's duration: the load keeps running and is attributed to this step.
func Soak(ctx context.Context, env *runner.Env, a *scenarios.SoakAction) error {
	return ctxcall.Sleep(ctx, a.Duration.D())
}

// HTTP sends one request and fails unless the status is expected; with retryFor it probes again every
// scenarios.RetryInterval until the answer is expected or retryFor has passed (the last answer is the error).
func HTTP(ctx context.Context, env *runner.Env, a *scenarios.HTTPAction) error {
	if a.RetryFor <= 0 {
		return probe(ctx, env, a)
	}
	deadline := time.Now().Add(a.RetryFor.D())
	tick := time.NewTicker(scenarios.RetryInterval)
	defer tick.Stop()
	for attempt := 1; ; attempt++ {
		err := probe(ctx, env, a)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %d probes in %s: %w", attempt, a.RetryFor, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %d probes: %w", attempt, err)
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, env *runner.Env, a *scenarios.HTTPAction) error {
	var body io.Reader
	if a.Body != "" {
		body = strings.NewReader(a.Body)
	}
	req, err := http.NewRequestWithContext(ctx, a.Method, a.URL, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	for k, v := range a.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", a.Method, a.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	fmt.Fprintf(env.Output, "%s %s → %s\n%s\n", a.Method, a.URL, resp.Status, bytes.TrimSpace(snippet))
	if !slices.Contains(a.Expect, resp.StatusCode) {
		return fmt.Errorf("%s %s answered %s, expected %v", a.Method, a.URL, resp.Status, a.Expect)
	}
	return nil
}

// Check judges a gate on the run so far and fails the step when it fails.
func Check(_ context.Context, env *runner.Env, a *scenarios.CheckAction) error {
	if env.Snapshot == nil {
		return errors.New("no measurements available to check")
	}
	c := checks.Evaluate(a.Gate, env.Snapshot())
	c.Phase = env.Step.Name
	env.Judged(c)
	fmt.Fprintf(env.Output, "%s: %s\n", c.Name, c.Summary)
	for _, e := range c.Evidence {
		fmt.Fprintf(env.Output, "  %s\n", e)
	}
	if !c.Passed {
		return fmt.Errorf("check %s failed: %s", c.Name, c.Summary)
	}
	return nil
}
