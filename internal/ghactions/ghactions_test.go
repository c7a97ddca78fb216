package ghactions_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/ghactions"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

func TestEnabledOnlyWhenTheRunnerSaysSo(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GITHUB_ACTIONS" {
				return v
			}
			return ""
		}
	}
	assert.True(t, ghactions.Enabled(env("true")))
	assert.False(t, ghactions.Enabled(env("")))
	assert.False(t, ghactions.Enabled(env("1")))
}

// A message or property cannot end its command or start another: GitHub's rules (@actions/core command.ts).
func TestEscapingFollowsGitHubsRules(t *testing.T) {
	assert.Equal(t, "100%25 a%0Db%0Ac: d, e", ghactions.EscapeData("100% a\rb\nc: d, e"))
	assert.Equal(t, "a%3Ab%2Cc%25%0A", ghactions.EscapeProperty("a:b,c%\n"))

	a := ghactions.Annotation{Title: "check x,y: z", File: "dir/a,b.yaml", Line: 3, Col: 7,
		Message: "line one\n::error::forged"}
	assert.Equal(t, "::error file=dir/a%2Cb.yaml,line=3,col=7,title=check x%2Cy%3A z::line one%0A::error::forged", a.String())
	assert.NotContains(t, a.String(), "\n", "one command, one line")

	assert.Equal(t, "::warning title=t::m", ghactions.Annotation{Level: ghactions.Warning, Title: "t", Message: "m"}.String())
	assert.Equal(t, "::error::m", ghactions.Annotation{Message: "m", Line: 4}.String(), "a line without a file is left out")
}

func TestProblemsPointAtTheLinesOfTheScenarioFile(t *testing.T) {
	inv := &scenarios.InvalidError{File: "gates/bad.yaml", More: 2, Errors: []scenarios.FieldError{
		{File: "gates/bad.yaml", Pos: scenarios.Pos{Line: 4, Column: 9}, Path: "steps[0].timeout", Msg: "expected a duration"},
		{File: "gates/bad.yaml", Pos: scenarios.Pos{Line: 1, Column: 1}, Msg: "unknown key foo"},
	}}
	got := ghactions.Problems(wrapped(inv), "bad input", ghactions.Error)
	require.Len(t, got, 3)
	assert.Equal(t, "::error file=gates/bad.yaml,line=4,col=9,title=steps[0].timeout::expected a duration", got[0].String())
	assert.Equal(t, "::error file=gates/bad.yaml,line=1,col=1,title=scenario::unknown key foo", got[1].String())
	assert.Equal(t, "::error file=gates/bad.yaml,title=bad input::… and 2 more problems", got[2].String())

	nr := &scenarios.NotRunnableError{File: "s.yaml", Problems: []scenarios.FieldError{
		{File: "s.yaml", Pos: scenarios.Pos{Line: 12, Column: 16}, Path: "steps[1].run.command", Msg: "upgrade.sh: not found on PATH"}}}
	got = ghactions.Problems(nr, "bad input", ghactions.Warning)
	require.Len(t, got, 1)
	assert.Equal(t, "::warning file=s.yaml,line=12,col=16,title=steps[1].run.command::upgrade.sh: not found on PATH", got[0].String())

	got = ghactions.Problems(errors.New("--var x: expected NAME=VALUE"), "bad input", ghactions.Error)
	assert.Equal(t, []ghactions.Annotation{{Level: ghactions.Error, Title: "bad input", Message: "--var x: expected NAME=VALUE"}}, got)
	assert.Empty(t, ghactions.Problems(nil, "bad input", ghactions.Error))
}

func wrapped(err error) error { return errors.Join(errors.New("loading"), err) }

func TestRunAnnotatesEachFailedCheckAndStep(t *testing.T) {
	r := &summary.Run{Verdict: summary.VerdictFail,
		Phases: []summary.Phase{
			{Name: "warmup", Kind: "warmup"},
			{Name: "upgrade", Kind: "step", Outcome: summary.OutcomeFailed, Error: "exit status 1"},
			{Name: "later", Kind: "step", Outcome: summary.OutcomeNotRun, Error: "step upgrade failed"},
			{Name: "settle", Kind: "step", Outcome: summary.OutcomePassed},
		},
		Checks: []summary.Check{
			{Name: "noUnexpectedStatus", Passed: false, Summary: "12 of 300 requests unexpected", Steps: []string{"upgrade"}},
			{Name: "stepsSucceeded", Passed: true, Summary: "ok"},
		}}
	var b bytes.Buffer
	require.NoError(t, ghactions.Write(&b, ghactions.Run(r, "a gate failed")...))
	assert.Equal(t, strings.Join([]string{
		"::error title=check noUnexpectedStatus::12 of 300 requests unexpected — during upgrade",
		"::error title=step upgrade::failed: exit status 1",
		"::error title=canarygate fail::a gate failed",
	}, "\n")+"\n", b.String())

	assert.Empty(t, ghactions.Run(&summary.Run{Verdict: summary.VerdictPass, Checks: []summary.Check{{Name: "a", Passed: true}}}, "passed"))
}

// A rollback the scenario asked for is the run's decision: its check and step are warnings, the verdict
// line the error.
func TestADecidedFailureIsAWarning(t *testing.T) {
	r := &summary.Run{Verdict: summary.VerdictRolledBack,
		Phases: []summary.Phase{
			{Name: "health", Kind: "step", Outcome: summary.OutcomeFailed, Error: "check failed", Decides: true},
			{Name: "rollback", Kind: "step", Outcome: summary.OutcomePassed, When: "failed: health", Branch: true},
		},
		Checks: []summary.Check{{Name: "healthy", Summary: "3 unexpected", Phase: "health", Decision: true}}}
	got := ghactions.Run(r, "rolled back")
	require.Len(t, got, 3)
	assert.Equal(t, "::warning title=check healthy::3 unexpected (at step health)", got[0].String())
	assert.Equal(t, "::warning title=step health::failed: check failed", got[1].String())
	assert.Equal(t, "::error title=canarygate rolled back::rolled back", got[2].String())
}

type recorder struct{ events []string }

func (r *recorder) StepStarted(name string, _ timeline.Kind) {
	r.events = append(r.events, "start "+name)
}
func (r *recorder) StepFinished(res runner.Result) { r.events = append(r.events, "finish "+res.Name) }

// Each step's lines fold into a group; the next observer's ✓/✗ line comes after it, outside the fold.
func TestGroupsFoldEachStep(t *testing.T) {
	var b bytes.Buffer
	next := &recorder{}
	g := ghactions.NewGroups(&b, next)
	g.StepStarted("upgrade", timeline.KindStep)
	b.WriteString("output\n")
	g.StepFinished(runner.Result{Name: "upgrade"})
	g.StepFinished(runner.Result{Name: "skipped"})
	g.StepStarted("a%b\nc", timeline.KindStep)
	g.Close()
	g.Close()
	assert.Equal(t, "::group::step upgrade\noutput\n::endgroup::\n::group::step a%25b%0Ac\n::endgroup::\n", b.String())
	assert.Equal(t, []string{"start upgrade", "finish upgrade", "finish skipped", "start a%b\nc"}, next.events)
}

func TestSetOutputAppendsToTheStepsOutputFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output")
	env := func(k string) string {
		if k == "GITHUB_OUTPUT" {
			return path
		}
		return ""
	}
	require.NoError(t, ghactions.SetOutput(env, "unexpected", "12"))
	require.NoError(t, ghactions.SetOutput(env, "why", "two\nlines"))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, 5)
	assert.Equal(t, "unexpected=12", lines[0])
	require.True(t, strings.HasPrefix(lines[1], "why<<ghadelimiter_"), lines[1])
	delim := strings.TrimPrefix(lines[1], "why<<")
	assert.Equal(t, []string{"two", "lines", delim}, lines[2:])

	require.NoError(t, ghactions.SetOutput(func(string) string { return "" }, "x", "y"), "not a step: nothing to do")
}
