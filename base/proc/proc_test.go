package proc

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAliveTellsARunningProcessFromAnEndedOne(t *testing.T) {
	assert.True(t, Alive(os.Getpid()))
	cmd := exec.Command("sleep", "30")
	require.NoError(t, cmd.Start())
	assert.True(t, Alive(cmd.Process.Pid))
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	assert.False(t, Alive(cmd.Process.Pid), "killed and reaped")
}
