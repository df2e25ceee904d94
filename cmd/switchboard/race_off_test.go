//go:build !race

package main

// raceDetector says the tests run with -race (ten times slower): the
// longest ones run on one of the two Redis kinds only.
const raceDetector = false
