//go:build !windows

package main

func platformStateDir() string { return "/var/lib/onus-agent" }
