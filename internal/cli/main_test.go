package cli_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/canarygate/canarygate/internal/cli"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/testenv"
)

// Helper modes: the test binary doubles as the commands that scenarios' run steps execute, and as the
// canarygate binary for the signal test, so no other program is needed.
const (
	envFault = "CANARYGATE_TEST_FAULT" // "<on-url> <duration> <off-url>": switch a fault on, wait, switch it off
	envEcho  = "CANARYGATE_TEST_ECHO"  // print the value and exit 1
	envOK    = "CANARYGATE_TEST_OK"    // print the value and exit 0
	envMain  = "CANARYGATE_TEST_MAIN"  // run canarygate with the arguments
	// envChild marks processes started by a test: without a mode they must not run the test suite again.
	envChild = "CANARYGATE_TEST_CHILD"
)

func TestMain(m *testing.M) {
	if os.Getenv(envMain) == "1" {
		// The run's own step commands must not start canarygate again.
		os.Unsetenv(envMain)
		os.Exit(cli.Main(os.Args[1:], streams.Std()))
	}
	if v := os.Getenv(envFault); v != "" {
		os.Exit(faultHelper(v))
	}
	if v := os.Getenv(envEcho); v != "" {
		fmt.Println(v)
		os.Exit(1)
	}
	if v := os.Getenv(envOK); v != "" {
		fmt.Println(v)
		os.Exit(0)
	}
	if os.Getenv(envChild) == "1" {
		fmt.Fprintln(os.Stderr, "test helper started without a mode")
		os.Exit(99)
	}
	// Workflow commands only where a test asks for them (t.Setenv): not because the tests run in a GitHub job.
	os.Unsetenv("GITHUB_ACTIONS")
	os.Exit(testenv.Main(m, &kubeEnv))
}

// kubeEnv is the control plane for the tests that run Kubernetes steps (nil where none is configured).
var kubeEnv *testenv.Env

func faultHelper(spec string) int {
	parts := strings.Fields(spec)
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "fault helper: want '<on-url> <duration> <off-url>'")
		return 2
	}
	d, err := time.ParseDuration(parts[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if !get(parts[0]) {
		return 1
	}
	time.Sleep(d)
	if !get(parts[2]) {
		return 1
	}
	fmt.Printf("fault on for %s\n", d)
	return 0
}

func get(url string) bool {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}
