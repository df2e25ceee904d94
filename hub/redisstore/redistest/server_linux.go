package redistest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

func init() {
	// A server started by the harness gets SIGKILL when the test binary
	// dies (a test timeout's panic, a ^C), which runs no cleanups: no redis
	// process outlives the tests.
	setDeathSignal = func(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
	// /proc/PID/stat: "pid (comm) S ...", S is T when stopped by a signal.
	processStopped = func(pid int) (bool, bool) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false, false
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			return false, false
		}
		return b[i+2] == 'T', true
	}
}
