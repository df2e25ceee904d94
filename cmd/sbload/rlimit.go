package main

import "syscall"

// raiseFileLimit lifts the open-file limit as far as the system lets the
// tool (a socket is a file; the default 1,024 or 20,000 would cap a run):
// the hard limit too when running as root.
func raiseFileLimit(want uint64) {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil || l.Cur >= want {
		return
	}
	l.Cur = want
	if l.Max < want {
		l.Max = want
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
			return
		}
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		l.Cur = l.Max
	}
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}
