package store

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
)

var bootID = sync.OnceValue(func() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
})

// processState returns an identity of the process instance (boot id and
// start time) and whether it is a zombie; "" if it cannot be read.
func processState(pid int) (start string, zombie bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// The command name (field 2) may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", false
	}
	// f[0] is field 3 (state), f[19] is field 22 (starttime).
	return bootID() + ":" + f[19], f[0] == "Z" || f[0] == "X"
}
