package action_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// actionFile is action.yml, as much of it as a composite action's runner reads.
type actionFile struct {
	Inputs  map[string]struct{ Default string } `yaml:"inputs"`
	Outputs map[string]struct{ Value string }   `yaml:"outputs"`
	Runs    struct {
		Using string `yaml:"using"`
		Steps []step `yaml:"steps"`
	} `yaml:"runs"`
}

type step struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	If    string            `yaml:"if"`
	Uses  string            `yaml:"uses"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
	Run   string            `yaml:"run"`
}

// fakeRunner stands in for GitHub's runner: the files a step's commands write to (GITHUB_OUTPUT, GITHUB_ENV,
// GITHUB_PATH, GITHUB_STEP_SUMMARY, fresh per step and read back after it, as the runner does), RUNNER_TEMP,
// GITHUB_ACTIONS=true, and the ${{ }} expressions the runner substitutes before a step runs.
type fakeRunner struct {
	action     actionFile
	actionPath string // …/_actions/OWNER/REPO/REF
	workspace  string
	temp       string
}

// actionRun is what one use of the action left behind.
type actionRun struct {
	outputs map[string]string
	// steps holds each step's outputs by id; failed, the names of the steps that failed.
	steps   map[string]map[string]string
	failed  []string
	log     string
	summary string
	env     map[string]string
}

var expr = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// substitute evaluates the expressions action.yml uses: inputs, github.action_path, github.action_ref (empty,
// as in the composite contexts of actions/runner#2473) and earlier steps' outputs. Anything else fails the
// test: the stand-in would not evaluate it as GitHub does.
func (r *fakeRunner) substitute(t *testing.T, s string, inputs map[string]string, steps map[string]map[string]string) string {
	t.Helper()
	return expr.ReplaceAllStringFunc(s, func(m string) string {
		e := expr.FindStringSubmatch(m)[1]
		switch {
		case strings.HasPrefix(e, "inputs."):
			v, ok := inputs[strings.TrimPrefix(e, "inputs.")]
			require.True(t, ok, "action.yml uses undeclared %s", e)
			return v
		case e == "github.action_path":
			return r.actionPath
		case e == "github.action_ref":
			return ""
		case strings.HasPrefix(e, "steps."):
			parts := strings.Split(e, ".")
			require.Len(t, parts, 4, "expression %s", e)
			require.Equal(t, "outputs", parts[2], "expression %s", e)
			return steps[parts[1]][parts[3]]
		}
		require.Failf(t, "expression not understood by the stand-in runner", "%s", e)
		return ""
	})
}

// use runs the action with the given inputs (the rest at their defaults), as a job step would.
func (r *fakeRunner) use(t *testing.T, ctx context.Context, given map[string]string) actionRun {
	t.Helper()
	require.Equal(t, "composite", r.action.Runs.Using)
	inputs := map[string]string{}
	for k, in := range r.action.Inputs {
		inputs[k] = in.Default
	}
	for k, v := range given {
		_, ok := r.action.Inputs[k]
		require.True(t, ok, "action.yml has no input %s", k)
		inputs[k] = v
	}
	res := actionRun{outputs: map[string]string{}, steps: map[string]map[string]string{}, env: map[string]string{}}
	var paths []string
	var log, summary bytes.Buffer
	for i, st := range r.action.Runs.Steps {
		name := st.Name
		if name == "" {
			name = st.Uses
		}
		if st.Uses != "" {
			// setup-go and upload-artifact: this machine's Go stands in for the first; the second is GitHub's.
			fmt.Fprintf(&log, "[stand-in] skipping uses: %s\n", st.Uses)
			continue
		}
		require.Contains(t, []string{"", "always()"}, st.If, "step %q: condition not understood by the stand-in", name)
		if len(res.failed) > 0 && st.If != "always()" {
			fmt.Fprintf(&log, "[stand-in] not running %q: an earlier step failed\n", name)
			continue
		}
		require.Equal(t, "bash", st.Shell, "step %q", name)
		files := r.stepFiles(t, i)
		env := r.env(files, paths, res.env)
		for k, v := range st.Env {
			env = append(env, k+"="+r.substitute(t, v, inputs, res.steps))
		}
		script := filepath.Join(r.temp, fmt.Sprintf("step-%d.sh", i))
		require.NoError(t, os.WriteFile(script, []byte(r.substitute(t, st.Run, inputs, res.steps)), 0o644))
		fmt.Fprintf(&log, "[stand-in] step %q\n", name)
		// GitHub's `shell: bash`: bash --noprofile --norc -eo pipefail {0}.
		cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir, cmd.Env = r.workspace, env
		// One writer for both: one pipe, the lines in the order they were written, as in the job's log.
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(&log, "[stand-in] step %q failed: %v\n", name, err)
			res.failed = append(res.failed, name)
		}
		outs := readKeyValues(t, files["GITHUB_OUTPUT"])
		if st.ID != "" {
			res.steps[st.ID] = outs
		}
		for k, v := range readKeyValues(t, files["GITHUB_ENV"]) {
			res.env[k] = v
		}
		for _, p := range readLines(t, files["GITHUB_PATH"]) {
			if p != "" {
				paths = append([]string{p}, paths...)
			}
		}
		data, err := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
		require.NoError(t, err)
		summary.Write(data)
	}
	for k, out := range r.action.Outputs {
		res.outputs[k] = r.substitute(t, out.Value, inputs, res.steps)
	}
	res.log, res.summary = log.String(), summary.String()
	t.Logf("action log:\n%s", res.log)
	return res
}

func (r *fakeRunner) stepFiles(t *testing.T, i int) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, k := range []string{"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"} {
		p := filepath.Join(r.temp, "_runner_file_commands", fmt.Sprintf("%s_%d_%d", strings.ToLower(k), i, time.Now().UnixNano()))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
		files[k] = p
	}
	return files
}

// env is a step's environment: this process's, without anything of a real runner or of canarygate's own
// settings, plus the stand-in runner's variables, earlier steps' GITHUB_ENV and GITHUB_PATH.
func (r *fakeRunner) env(files map[string]string, paths []string, set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "GITHUB_"), strings.HasPrefix(k, "RUNNER_"), strings.HasPrefix(k, "CANARYGATE_"), strings.HasPrefix(k, "INPUT_"):
			continue
		case k == "PATH":
			if len(paths) > 0 {
				v = strings.Join(paths, string(os.PathListSeparator)) + string(os.PathListSeparator) + v
			}
			env = append(env, "PATH="+v)
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GITHUB_ACTIONS=true", "CI=true", "RUNNER_TEMP="+r.temp, "GITHUB_WORKSPACE="+r.workspace,
		"GITHUB_ACTION_PATH="+r.actionPath, "GITHUB_JOB=gate", "GITHUB_RUN_ATTEMPT=1")
	for k, p := range files {
		env = append(env, k+"="+p)
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// readKeyValues reads a GITHUB_OUTPUT or GITHUB_ENV file: NAME=VALUE lines and NAME<<DELIMITER blocks.
func readKeyValues(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := readLines(t, path)
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		if k, delim, ok := strings.Cut(lines[i], "<<"); ok && !strings.Contains(k, "=") {
			var val []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			require.Less(t, i, len(lines), "%s: %s<<%s is not closed", path, k, delim)
			out[k] = strings.Join(val, "\n")
			continue
		}
		k, v, ok := strings.Cut(lines[i], "=")
		require.True(t, ok, "%s: line %q", path, lines[i])
		out[k] = v
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, sc.Err())
	return lines
}
