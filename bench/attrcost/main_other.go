//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "attrcost: process attribution is Linux-only")
	os.Exit(1)
}
