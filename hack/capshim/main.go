// Command capshim is an OCI runtime that stands in front of runc for a container engine whose own capability
// bounding set lacks some capabilities (a sandboxed machine: here CAP_SYS_RESOURCE is withheld). Docker 20.10
// asks runc for every capability the kernel knows when a container is --privileged, which kind's nodes are;
// runc then fails "unable to apply caps: operation not permitted". capshim removes from the container's
// capability sets those not in its own bounding set — the ones the container could never have held — and
// execs runc with the same arguments. Every other container is passed through unchanged.
//
// hack/docker-capshim.sh installs it as the engine's default runtime only when the engine's bounding set is
// short; it changes nothing on a machine where --privileged works.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNames are Linux's capability numbers, as runc's spec names them.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
	"CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

func main() {
	runc, err := realRunc()
	if err != nil {
		fmt.Fprintln(os.Stderr, "capshim:", err)
		os.Exit(1)
	}
	args := os.Args[1:]
	if bundle, ok := bundleOf(args); ok {
		if err := filter(filepath.Join(bundle, "config.json"), "process"); err != nil {
			fmt.Fprintln(os.Stderr, "capshim:", err)
			os.Exit(1)
		}
	}
	// docker exec --privileged: runc exec --process FILE, a process spec with the capabilities at its root.
	if process, ok := flagValue(args, "--process", "-p"); ok {
		if err := filter(process, ""); err != nil {
			fmt.Fprintln(os.Stderr, "capshim:", err)
			os.Exit(1)
		}
	}
	err = syscall.Exec(runc, append([]string{runc}, args...), os.Environ())
	fmt.Fprintln(os.Stderr, "capshim: exec", runc, err)
	os.Exit(1)
}

// realRunc is $CAPSHIM_RUNC, or the first runc in the usual places that is not this program.
func realRunc() (string, error) {
	if r := os.Getenv("CAPSHIM_RUNC"); r != "" {
		return r, nil
	}
	self, _ := os.Executable()
	for _, c := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"} {
		if c == self {
			continue
		}
		if fi, err := os.Stat(c); err == nil && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("no runc found (set CAPSHIM_RUNC)")
}

// bundleOf finds the bundle of a create or run command: --bundle/-b, or the working directory.
func bundleOf(args []string) (string, bool) {
	sub := ""
	for _, a := range args {
		if a == "create" || a == "run" {
			sub = a
			break
		}
	}
	if sub == "" {
		return "", false
	}
	if b, ok := flagValue(args, "--bundle", "-b"); ok {
		return b, true
	}
	wd, err := os.Getwd()
	return wd, err == nil
}

// flagValue returns the value of a flag given as "--name value", "-short value" or "--name=value".
func flagValue(args []string, long, short string) (string, bool) {
	for i, a := range args {
		if (a == long || a == short) && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, long+"="); ok {
			return v, true
		}
	}
	return "", false
}

// bounding reads this process's capability bounding set.
func bounding() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd in /proc/self/status")
}

// filter rewrites a JSON spec file without the capabilities this process cannot hold; under is the object
// holding "capabilities" ("process" in a bundle's config.json, "" in an exec process file).
func filter(config, under string) error {
	bnd, err := bounding()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for i, n := range capNames {
		have[n] = bnd&(1<<uint(i)) != 0
	}
	data, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	var spec map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // uids, gids and limits stay exact
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("%s: %w", config, err)
	}
	proc := spec
	if under != "" {
		proc, _ = spec[under].(map[string]any)
	}
	caps, _ := proc["capabilities"].(map[string]any)
	changed := false
	for set, v := range caps {
		list, _ := v.([]any)
		kept := list[:0]
		for _, c := range list {
			name, _ := c.(string)
			if known, ok := have[name]; ok && !known {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(config, out, 0o600)
}
