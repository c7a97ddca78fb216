package scenarios

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Core action kinds.
const (
	ActionRun   = "run"
	ActionSoak  = "soak"
	ActionHTTP  = "http"
	ActionCheck = "check"
)

// RunAction runs a command; a non-zero exit fails the step. Its output goes into the report.
type RunAction struct {
	Pos     Pos               `yaml:"-" json:"-"`
	Command string            `yaml:"command" json:"command"`
	Args    []string          `yaml:"args,omitempty" json:"args,omitempty"`
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Dir     string            `yaml:"dir,omitempty" json:"dir,omitempty"`
	// KillGrace is how long the command's process group gets between SIGTERM and SIGKILL when the step is cut
	// short (timeout, interrupt). Default 5s.
	KillGrace Duration `yaml:"killGrace,omitempty" json:"killGrace,omitempty"`
}

// DefaultKillGrace is a run step's killGrace when it names none.
const DefaultKillGrace = Duration(5 * time.Second)

// Default implements Defaulter.
func (a *RunAction) Default() {
	if a.KillGrace == 0 {
		a.KillGrace = DefaultKillGrace
	}
}

// Validate implements ActionSpec.
func (a *RunAction) Validate(_ *Scenario, p Problems, path string) {
	if a.KillGrace < 0 {
		p.Add(a.Pos.Field("killGrace"), join(path, "killGrace"), "%s is negative: expected a duration such as 5s", a.KillGrace)
	}
	if strings.TrimSpace(a.Command) == "" {
		p.Add(a.Pos.Field("command"), join(path, "command"), "required: the program to run (args go in args)")
		return
	}
	// Found before anything starts, not after the warm-up — but a fact of this machine, not of the
	// scenario: validate warns (a lint job without az or istioctl can still check the file), run refuses.
	if err := a.resolve(); err != nil && !Placeholder(a.Command) {
		p.NotRunnable(a.Pos.Field("command"), join(path, "command"), "%v", err)
	}
}

// resolve finds the command as the step will run it: a path (relative to dir when set), or a name on PATH.
func (a *RunAction) resolve() error {
	if strings.ContainsRune(a.Command, filepath.Separator) {
		path := a.Command
		if a.Dir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(a.Dir, path)
		}
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			return fmt.Errorf("%q: no such file (expected an executable; relative paths start from dir, else the working directory)", path)
		case fi.IsDir() || fi.Mode()&0o111 == 0:
			return fmt.Errorf("%q is not an executable file", path)
		}
		return nil
	}
	if _, err := exec.LookPath(a.Command); err != nil {
		return fmt.Errorf("%q is not found on PATH (expected a program name on PATH or a path to an executable)", a.Command)
	}
	return nil
}

// Describe implements ActionSpec.
func (a *RunAction) Describe() string {
	line := strings.TrimSpace(a.Command + " " + strings.Join(a.Args, " "))
	// A script (sh -c with several lines) on one line of the plan: its first line and how many follow.
	if first, rest, multi := strings.Cut(line, "\n"); multi {
		n := strings.Count(strings.TrimSpace(rest), "\n") + 1
		return fmt.Sprintf("run %s … (%d more line(s))", strings.TrimSpace(first), n)
	}
	return "run " + line
}

// SoakAction holds the rehearsal under load for a while (e.g. to let proxies of two revisions talk).
type SoakAction struct {
	Pos      Pos      `yaml:"-" json:"-"`
	Duration Duration `yaml:"duration" json:"duration"`
}

// Validate implements ActionSpec.
func (a *SoakAction) Validate(_ *Scenario, p Problems, path string) {
	if a.Duration <= 0 {
		p.Add(a.Pos.Field("duration"), join(path, "duration"), "required: a positive duration such as 30s")
	}
}

// Describe implements ActionSpec.
func (a *SoakAction) Describe() string { return fmt.Sprintf("hold under load for %s", a.Duration) }

// Clusterless marks actions that never touch a cluster (plan does not say "cluster X" for them).
type Clusterless interface{ clusterless() }

func (*SoakAction) clusterless()  {}
func (*HTTPAction) clusterless()  {}
func (*CheckAction) clusterless() {}

// DefaultTimeout gives a soak room beyond its own duration.
func (a *SoakAction) DefaultTimeout() Duration { return a.Duration + Duration(time.Minute) }

// HTTPAction sends one probe request and expects a status.
type HTTPAction struct {
	Pos     Pos               `yaml:"-" json:"-"`
	Method  string            `yaml:"method" json:"method"`
	URL     string            `yaml:"url" json:"url"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Body    string            `yaml:"body,omitempty" json:"body,omitempty"`
	Expect  []int             `yaml:"expect" json:"expect"`
	// RetryFor repeats the probe (every RetryInterval) until it answers as expected or this long has
	// passed: "the ingress answers 200" before warm-up starts, rather than one probe and hope.
	RetryFor Duration `yaml:"retryFor,omitempty" json:"retryFor,omitempty"`
}

// RetryInterval is the time between two probes of an http step with retryFor.
const RetryInterval = 500 * time.Millisecond

// Validate implements ActionSpec.
func (a *HTTPAction) Validate(_ *Scenario, p Problems, path string) {
	validateURL(p, a.Pos, path, a.URL)
	validateMethod(p, a.Pos, path, a.Method)
	validateCodes(p, a.Pos, path, a.Expect)
	if a.RetryFor < 0 {
		p.Add(a.Pos.Field("retryFor"), join(path, "retryFor"), "%s is negative: expected a duration such as 2m", a.RetryFor)
	}
}

// Describe implements ActionSpec.
func (a *HTTPAction) Describe() string {
	if a.RetryFor > 0 {
		return fmt.Sprintf("probe %s %s until it answers %v (at most %s)", a.Method, a.URL, a.Expect, a.RetryFor)
	}
	return fmt.Sprintf("probe %s %s, expect %v", a.Method, a.URL, a.Expect)
}

// CheckAction evaluates a gate on the timeline so far (e.g. "no non-200 until now") and fails the step when
// the gate fails.
type CheckAction struct {
	Gate
}

func (a *CheckAction) decodeNode(dec *decoder, n *yaml.Node, path string) {
	a.Gate.decodeNode(dec, n, path)
}

// Default implements Defaulter.
func (a *CheckAction) Default() {
	if a.Name == "" {
		a.Name = a.Kind
	}
}

// Validate implements ActionSpec.
func (a *CheckAction) Validate(s *Scenario, p Problems, path string) {
	if a.Spec != nil {
		a.Spec.Validate(s, p, join(path, a.Kind))
	}
}

// Describe implements ActionSpec.
func (a *CheckAction) Describe() string {
	if a.Spec == nil {
		return "check"
	}
	return "check so far: " + a.Spec.Describe()
}

// MarshalYAML writes the inner gate.
func (a *CheckAction) MarshalYAML() (any, error) { return a.Gate.MarshalYAML() }

func validateURL(p Problems, pos Pos, path, raw string) {
	if raw == "" {
		p.Add(pos.Field("url"), join(path, "url"), "required: an absolute http:// or https:// URL")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add(pos.Field("url"), join(path, "url"), "%q is not an absolute http:// or https:// URL", raw)
	}
}

func validateMethod(p Problems, pos Pos, path, m string) {
	if m == "" {
		return
	}
	for _, r := range m {
		if r < 'A' || r > 'Z' {
			p.Add(pos.Field("method"), join(path, "method"), "%q is not an HTTP method: expected upper-case letters such as GET or POST", m)
			return
		}
	}
}

func validateCodes(p Problems, pos Pos, path string, codes []int) {
	for i, c := range codes {
		if c < 100 || c > 599 {
			p.Add(pos.Field("expect"), fmt.Sprintf("%s[%d]", join(path, "expect"), i), "%d is not an HTTP status code: expected 100 to 599", c)
		}
	}
}
